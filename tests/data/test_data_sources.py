"""Converters (HierText, ICDAR2015), the synthetic generator, inspect and the `data` commands."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from det_model.cli_data import add_data_parser
from det_model.data.inspect_labels import inspect_label_file
from det_model.data.label_file import read_label_file
from det_model.data.sources.hiertext import convert_hiertext
from det_model.data.sources.icdar2015 import convert_icdar2015
from det_model.data.sources.synth import generate_synthetic, synth_image

QUAD = [[10, 10], [60, 10], [60, 30], [10, 30]]
CURVED = [[70, 10], [90, 8], [110, 12], [110, 30], [90, 26], [70, 30]]  # 6-point word


def _hiertext_gt(path: Path) -> None:
    """One image: a legible line (legible + curved word), a line with an illegible word (empty text), a
    degenerate line, and an illegible paragraph."""
    annotation = {"image_id": "abc123", "image_width": 200, "image_height": 100, "paragraphs": [
        {"legible": True, "vertices": [], "lines": [
            {"text": "HELLO WORLD", "legible": True, "vertices": [[10, 8], [112, 8], [112, 32], [10, 32]],
             "handwritten": True, "words": [
                {"text": "HELLO", "legible": True, "vertices": QUAD},
                {"text": "WORLD", "legible": True, "vertices": CURVED}]},
            {"text": "A ", "legible": False, "vertices": [[10, 40], [60, 40], [60, 60], [10, 60]], "words": [
                {"text": "A", "legible": True, "vertices": [[10, 40], [30, 40], [30, 60], [10, 60]]},
                {"text": "", "legible": False, "vertices": [[35, 40], [60, 40], [60, 60], [35, 60]]}]},
            {"text": "flat", "legible": True, "vertices": [[0, 70], [50, 70], [90, 70], [20, 70]], "words": []}]},
        {"legible": False, "vertices": [], "lines": [
            {"text": "faded", "legible": True, "vertices": [[120, 60], [180, 60], [180, 80], [120, 80]],
             "words": [{"text": "faded", "legible": True, "vertices": [[120, 60], [180, 60], [180, 80], [120, 80]]}]}]},
    ]}
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump({"info": {"version": "v1"}, "annotations": [annotation]}, handle)


def _entries(label: Path) -> list[tuple[str, int]]:
    (record,), stats = read_label_file(label)
    assert not stats
    return [(e.transcription, len(e.points)) for e in record.entries]


def test_hiertext_line_level(tmp_path: Path) -> None:
    _hiertext_gt(tmp_path / "train.jsonl.gz")
    (tmp_path / "train").mkdir()
    cv2.imwrite(str(tmp_path / "train" / "abc123.jpg"), np.zeros((100, 200, 3), np.uint8))
    stats = convert_hiertext(tmp_path / "train.jsonl.gz", tmp_path / "train", tmp_path / "label.txt")
    assert _entries(tmp_path / "label.txt") == [("HELLO WORLD", 4), ("###", 4), ("###", 4)]
    assert (stats.images, stats.boxes, stats.ignored, stats.dropped) == (1, 3, 2, 1)
    assert stats.missing_images == 0 and stats.notes["handwritten_lines"] == 1
    assert read_label_file(tmp_path / "label.txt")[0][0].img_path == "train/abc123.jpg"


def test_hiertext_word_level_maps_illegible_to_ignore_and_keeps_polygons(tmp_path: Path) -> None:
    _hiertext_gt(tmp_path / "gt.jsonl.gz")
    cv2.imwrite(str(tmp_path / "abc123.jpg"), np.zeros((100, 200, 3), np.uint8))
    stats = convert_hiertext(tmp_path / "gt.jsonl.gz", tmp_path, tmp_path / "words.txt", level="word",
                             degenerate="ignore")
    # Empty-text illegible word -> "###" (PaddleOCR would train "" as text); the word-less line falls back to
    # its own (degenerate) box, kept as "###"; the illegible paragraph's word is "###".
    assert _entries(tmp_path / "words.txt") == [("HELLO", 4), ("WORLD", 6), ("A", 4), ("###", 4), ("###", 4),
                                                 ("###", 4)]
    assert stats.degenerate_ignored == 1 and stats.point_counts[6] == 1


@pytest.mark.parametrize("content,message", [
    (b"{not json", "not a HierText JSON object"),  # bad JSON
    (b'{"info": {}}', "'annotations' list"),  # wrong schema
])
def test_hiertext_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "gt.json").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        convert_hiertext(tmp_path / "gt.json", tmp_path, tmp_path / "out.txt")


def test_icdar2015_bom_crlf_and_commas(tmp_path: Path) -> None:
    gt, images = tmp_path / "gt", tmp_path / "images"
    gt.mkdir()
    images.mkdir()
    cv2.imwrite(str(images / "img_2.jpg"), np.zeros((50, 50, 3), np.uint8))
    cv2.imwrite(str(images / "img_10.jpg"), np.zeros((50, 50, 3), np.uint8))
    (gt / "gt_img_10.txt").write_bytes("\ufeff1,1,20,1,20,10,1,10,a,b,c\r\n2,2,9,2,9,9,2,9,###\r\n".encode("utf-8"))
    (gt / "gt_img_2.txt").write_bytes("\ufeff0,0,5,0,5,0,0,0,zero\r\n".encode("utf-8"))
    stats = convert_icdar2015(gt, images, tmp_path / "label.txt")
    records, _ = read_label_file(tmp_path / "label.txt")
    assert [r.img_path for r in records] == ["images/img_2.jpg", "images/img_10.jpg"]  # natural order
    assert [(e.transcription, e.points[0].tolist()) for e in records[1].entries] == [("a,b,c", [1, 1]),
                                                                                     ("###", [2, 2])]
    assert (stats.boxes, stats.ignored, stats.dropped) == (2, 1, 1)
    # A malformed line is skipped and counted with its file:line; the rest of that file is still converted.
    cv2.imwrite(str(images / "img_3.jpg"), np.zeros((50, 50, 3), np.uint8))
    (gt / "gt_img_3.txt").write_text("1,2,x,4,5,6,7,8,t\n1,1,20,1,20,10,1,10,ok\n")
    stats = convert_icdar2015(gt, images, tmp_path / "label.txt")
    assert stats.images == 3 and stats.skipped.counts == {"malformed_ground_truth": 1}
    assert "gt_img_3.txt:1: non-numeric" in stats.summary()
    assert [e.transcription for e in read_label_file(tmp_path / "label.txt")[0][1].entries] == ["ok"]


def test_synth_is_deterministic_with_exact_boxes(tmp_path: Path) -> None:
    image_a, boxes_a = synth_image(11, 4)
    image_b, boxes_b = synth_image(11, 4)
    assert np.array_equal(image_a, image_b) and len(boxes_a) == len(boxes_b) > 0
    assert not np.array_equal(image_a, synth_image(12, 4)[0])
    # Text pixels lie inside the boxes: outside every box the image is unchanged by rendering text.
    label = generate_synthetic(tmp_path, 6, seed=2, size=(128, 160))
    records, stats = read_label_file(label)
    assert len(records) == 6 and not stats
    texts = [e.transcription for r in records for e in r.entries]
    assert any(t == "###" for t in texts) or len(texts) < 10
    for record in records:
        for entry in record.entries:
            w, h = np.ptp(entry.points, axis=0)
            assert 3 <= min(w, h) and max(w, h) <= 160 * 1.5


def test_synth_text_lies_inside_its_box() -> None:
    from det_model.data.sources import synth
    opts = synth.SynthOptions(size=(200, 300), blocks=(1, 1), ignored_fraction=0.0)
    placed = 0
    for seed in range(40):
        rng = np.random.default_rng([seed, 0])
        background = synth._background(rng, 200, 300)
        image = background.copy()
        boxes = synth._place_block(image, rng, opts, [], ignored=False)
        if not boxes:  # the block did not fit this image
            continue
        placed += 1
        changed = np.any(image != background, axis=2).astype(np.uint8)
        mask = np.zeros_like(changed)
        for points, _ in boxes:
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))  # anti-aliasing fringe
        assert changed.sum() > 0 and (changed & (1 - mask)).sum() <= 0.01 * changed.sum()
    assert placed >= 5


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), grey=st.floats(0, 255), spread=st.floats(0, 127))
def test_synth_text_colour_keeps_min_contrast(seed: int, grey: float, spread: float) -> None:
    from det_model.data.sources import synth
    rng = np.random.default_rng(seed)
    region = np.clip(grey + rng.uniform(-spread, spread, (40, 3)), 0, 255).astype(np.uint8)
    color = synth._contrasting_color(rng, region)
    assert color.shape == (3,) and color.min() >= 0 and color.max() <= 255
    assert abs(float(color.mean()) - float(region.mean())) >= synth.MIN_CONTRAST - 1e-3


def test_inspect_counts_and_draws(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((50, 50, 3), np.uint8))
    items = [{"transcription": "x", "points": QUAD}, {"transcription": "###", "points": QUAD},
             {"transcription": "y", "points": [[0, 0], [10, 0], [20, 0]]}]
    label = tmp_path / "label.txt"
    label.write_text(f"a.png\t{json.dumps(items)}\nb.png\t[]\nbroken\n")
    report = inspect_label_file(label, tmp_path, draw_dir=tmp_path / "draw")
    assert (report.images, report.missing_images, report.boxes, report.ignored, report.degenerate) == (2, 1, 3, 1, 1)
    assert report.bad_lines.skipped_samples == 1 and (tmp_path / "draw" / "a.jpg").is_file()


def test_data_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "synth", "--out", str(tmp_path), "-n", "2", "--seed", "1",
                              "--height", "64", "--width", "96"])
    assert args.func(args) == 0
    args = parser.parse_args(["data", "inspect", str(tmp_path / "label.txt"), "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "images: 2" in out and "boxes:" in out and "degenerate: 0" in out
    _hiertext_gt(tmp_path / "gt.jsonl.gz")
    cv2.imwrite(str(tmp_path / "abc123.jpg"), np.zeros((100, 200, 3), np.uint8))
    args = parser.parse_args(["data", "convert", "--format", "hiertext", "--gt", str(tmp_path / "gt.jsonl.gz"),
                              "--image-dir", str(tmp_path), "--out", str(tmp_path / "h.txt")])
    assert args.func(args) == 0 and "boxes 3" in capsys.readouterr().out
