"""Slicing very wide/tall images into overlapping windows and joining their boxes (row 15 of issue 16)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from det_model.postprocess.db import Detections
from det_model.postprocess.slicing import (
    Window,
    detect_sliced,
    merge_window_detections,
    needs_slicing,
    slice_windows,
)


@pytest.mark.parametrize("h, w, limit, expected", [
    (200, 10000, 960, True),  # panorama
    (3000, 1000, 960, True),  # tall poster
    (200, 900, 960, False),  # long side within the limit: resized whole, as before
    (1000, 1800, 960, False),  # not elongated enough
])
def test_needs_slicing(h: int, w: int, limit: int, expected: bool) -> None:
    assert needs_slicing(h, w, limit) is expected


@pytest.mark.parametrize("h, w", [(200, 10000), (3000, 1000), (201, 1003)])
def test_windows_cover_the_image_with_half_a_short_side_of_overlap(h: int, w: int) -> None:
    windows = slice_windows(h, w)
    horizontal = w >= h
    spans = [(win.x0, win.x1) if horizontal else (win.y0, win.y1) for win in windows]
    short = min(h, w)
    assert spans[0][0] == 0 and spans[-1][1] == max(h, w)
    assert all(b[0] <= a[1] - short // 2 for a, b in zip(spans, spans[1:]))
    assert all(e - s == 2 * short for s, e in spans)


def _dets(*boxes: tuple[int, int, int, int], score: float = 0.9) -> Detections:
    quads = [[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for x0, y0, x1, y1 in boxes]
    return Detections(np.asarray(quads, np.int32).reshape(-1, 4, 2), np.full(len(boxes), score, np.float32))


def test_a_word_seen_whole_by_two_windows_is_kept_once() -> None:
    a, b = Window(0, 0, 400, 200), Window(300, 0, 700, 200)
    merged = merge_window_detections([(a, _dets((320, 50, 380, 90))), (b, _dets((20, 50, 80, 90)))], (200, 700))
    assert len(merged) == 1 and merged.boxes[0][:, 0].min() == 320


def test_a_word_longer_than_the_overlap_is_joined_from_its_two_fragments() -> None:
    a, b = Window(0, 0, 400, 200), Window(300, 0, 700, 200)
    # The word spans x 250..450: window a sees 250..399 (cut at its edge), window b 300..450 (cut at its start).
    merged = merge_window_detections([(a, _dets((250, 50, 399, 90))), (b, _dets((0, 50, 150, 90)))], (200, 700))
    assert len(merged) == 1
    assert (merged.boxes[0][:, 0].min(), merged.boxes[0][:, 0].max()) == (250, 450)


def test_a_fragment_covered_by_a_whole_box_is_dropped() -> None:
    a, b = Window(0, 0, 400, 200), Window(300, 0, 700, 200)
    merged = merge_window_detections([(a, _dets((360, 50, 399, 90))), (b, _dets((40, 50, 90, 90)))], (200, 700))
    assert len(merged) == 1 and merged.boxes[0][:, 0].max() == 390


def _dark_components(image: np.ndarray) -> Detections:
    """A stand-in detector: one box per connected dark region (exact, so only the slicing is tested)."""
    dark = (image.min(axis=2) < 100).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dark)
    boxes = [(x, y, x + w - 1, y + h - 1) for x, y, w, h, _ in stats[1:count]]
    return _dets(*boxes) if boxes else _dets()


def test_panorama_words_come_back_one_box_each() -> None:
    """10000x200: 60 words of 40-380 px (some longer than the 100 px overlap) in two rows."""
    rng = np.random.default_rng(0)
    image = np.full((200, 10000, 3), 230, np.uint8)
    words, x = [], 20
    while x < 9600:
        length = int(rng.integers(40, 380))
        row = int(rng.integers(0, 2))
        box = (x, 40 + 90 * row, x + length, 70 + 90 * row)
        cv2.rectangle(image, box[:2], box[2:], (20, 20, 20), -1)
        words.append(box)
        x += length + int(rng.integers(30, 120))
    found = detect_sliced(_dark_components, image)
    got = sorted((int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 0].max()), int(b[:, 1].max()))
                 for b in found.boxes)
    assert got == sorted(words)
