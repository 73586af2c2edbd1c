"""DBPostProcess on synthetic probability maps whose expected boxes follow from the DB formulas."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from postprocess_synthetic_maps import PARITY_SETTINGS, SEEDS, synthetic_map

from det_model.config.schema import DBPostProcessConfig, DistillationDBPostProcessConfig
from det_model.postprocess import (
    DBPostProcess,
    Detections,
    DistillationDBPostProcess,
    build_postprocess,
    filter_det_boxes,
)


def _map_with_rects(
    hw: tuple[int, int], rects: list[tuple[int, int, int, int]], value: float = 1.0
) -> np.ndarray:
    """(1, 1, H, W) float32 map with `value` on the inclusive pixel rectangles (x0, y0, x1, y1)."""
    prob = np.zeros(hw, np.float32)
    for x0, y0, x1, y1 in rects:
        prob[y0 : y1 + 1, x0 : x1 + 1] = value
    return prob[None, None]


def _expected_box(rect: tuple[int, int, int, int], unclip_ratio: float) -> np.ndarray:
    """[x0, y0, x1, y1] after unclipping: the contour runs through pixel centres, so the kernel polygon is
    (x1 - x0) x (y1 - y0) and grows by D = A * r / L on every side (DB eq. 10)."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    d = w * h * unclip_ratio / (2 * (w + h))
    return np.array([x0 - d, y0 - d, x1 + d, y1 + d])


def _shapes(src_h: float, src_w: float, map_h: int, map_w: int) -> np.ndarray:
    return np.array([[src_h, src_w, map_h / src_h, map_w / src_w]], np.float64)


def _signed_area(box: np.ndarray) -> float:
    """Shoelace area in image coordinates (y down): positive for clockwise order on screen."""
    x, y = box[:, 0].astype(float), box[:, 1].astype(float)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


# ------------------------------------------------------------------------------------------- recovery


@pytest.mark.parametrize(
    "rects, scale",
    [
        ([(20, 30, 119, 49)], 1.0),  # one horizontal line of text
        ([(20, 30, 119, 49), (150, 60, 179, 149)], 1.0),  # a horizontal and a vertical box
        ([(20, 30, 119, 49)], 2.0),  # source image twice the map size: coordinates scale up
        ([(10, 10, 40, 22), (60, 10, 90, 22), (10, 60, 40, 72)], 0.5),  # several boxes, downscaled source
    ],
)
def test_known_rectangles_are_recovered(rects, scale):
    map_h, map_w = 200, 240
    post = DBPostProcess(thresh=0.3, box_thresh=0.6, unclip_ratio=1.5)
    (det,) = post(_map_with_rects((map_h, map_w), rects), _shapes(map_h * scale, map_w * scale, map_h, map_w))
    assert det.boxes.dtype == np.int32 and det.boxes.shape == (len(rects), 4, 2)
    assert det.scores.dtype == np.float32 and np.allclose(det.scores, 1.0)
    got = sorted((b[:, 0].min(), b[:, 1].min(), b[:, 0].max(), b[:, 1].max()) for b in det.boxes)
    want = sorted(tuple(_expected_box(r, 1.5) * scale) for r in rects)
    # Round joins and integer rounding move an edge by at most about one pixel (in map units).
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1.0 * scale + 0.5)


def test_boxes_are_clockwise_from_top_left_for_rotated_text():
    prob = np.zeros((200, 200), np.float32)
    corners = cv2.boxPoints(((100.0, 100.0), (120.0, 24.0), 20.0))
    cv2.fillPoly(prob, [np.round(corners).astype(np.int32)], 1.0)
    (det,) = DBPostProcess(box_thresh=0.6, unclip_ratio=1.5)(prob[None], _shapes(200, 200, 200, 200))
    (box,) = det.boxes
    assert _signed_area(box) > 0  # clockwise on screen
    left_two = box[np.argsort(box[:, 0], kind="stable")[:2]]
    assert tuple(box[0]) == tuple(left_two[np.argmin(left_two[:, 1])])  # top-left: upper of the two leftmost


def test_boxes_are_clipped_to_the_source_image():
    rects = [(0, 0, 60, 15), (180, 180, 239, 199)]  # kernels touching the map borders
    (det,) = DBPostProcess(box_thresh=0.6, unclip_ratio=3.0)(
        _map_with_rects((200, 240), rects), _shapes(400, 480, 200, 240)
    )
    assert len(det) == 2
    assert det.boxes[..., 0].min() == 0 and det.boxes[..., 1].min() == 0
    assert det.boxes[..., 0].max() == 480 and det.boxes[..., 1].max() == 400  # PaddleOCR clips to [0, src]


@pytest.mark.parametrize(
    "prob",
    [
        np.zeros((1, 1, 64, 64), np.float32),  # nothing at all
        np.full((1, 1, 64, 64), 0.3, np.float32),  # exactly at thresh everywhere: `P > thresh` is strict
        _map_with_rects((64, 64), [(10, 10, 11, 40)]),  # kernel 2 px thin: min side < 3 before unclip
        _map_with_rects((64, 64), [(10, 10, 50, 30)], value=0.5),  # above thresh but score < box_thresh
    ],
)
def test_zero_detections_give_empty_arrays(prob):
    (det,) = DBPostProcess(box_thresh=0.6)(prob, _shapes(64, 64, 64, 64))
    assert det.boxes.shape == (0, 4, 2) and det.boxes.dtype == np.int32
    assert det.scores.shape == (0,) and len(det) == 0


@pytest.mark.parametrize(
    "kernel_rows, unclip_ratio, kept",
    [
        (3, 1.5, False),  # contour 2 px thin: below min_size 3 before unclipping
        (4, 0.3, False),  # 3 px passes; D = 0.42 rounds away on the integer clipper grid: 3 < min_size + 2
        (4, 1.5, True),  # 3 px, unclipped by D = 2.1 to 7.2 px: kept
    ],
)
def test_min_size_filters(kernel_rows, unclip_ratio, kept):
    prob = _map_with_rects((64, 64), [(10, 10, 50, 10 + kernel_rows - 1)])
    (det,) = DBPostProcess(box_thresh=0.6, unclip_ratio=unclip_ratio)(prob, _shapes(64, 64, 64, 64))
    assert len(det) == int(kept)


def test_score_equal_to_box_thresh_is_kept():
    value = 0.625  # exactly representable: the mean over the box is exactly this value
    prob = _map_with_rects((64, 64), [(10, 10, 50, 30)], value=value)
    kept = DBPostProcess(box_thresh=value)(prob, _shapes(64, 64, 64, 64))[0]
    dropped = DBPostProcess(box_thresh=float(np.nextafter(value, 1.0)))(prob, _shapes(64, 64, 64, 64))[0]
    assert len(kept) == 1 and kept.scores[0] == pytest.approx(value)
    assert len(dropped) == 0


def test_slow_score_follows_the_contour_not_the_rectangle():
    # An L-shaped kernel: its minimum-area rectangle is half empty, so only the "slow" score stays at 1.
    prob = _map_with_rects((120, 120), [(10, 10, 90, 25), (10, 10, 25, 90)])
    shapes = _shapes(120, 120, 120, 120)
    fast = DBPostProcess(box_thresh=0.9, score_mode="fast")(prob, shapes)[0]
    slow = DBPostProcess(box_thresh=0.9, score_mode="slow")(prob, shapes)[0]
    assert len(fast) == 0
    assert len(slow) == 1 and slow.scores[0] == pytest.approx(1.0)


def test_dilation_bridges_a_one_pixel_gap():
    prob = _map_with_rects((64, 128), [(10, 10, 50, 30), (52, 10, 100, 30)])  # column 51 is background
    shapes = _shapes(64, 128, 64, 128)
    assert len(DBPostProcess(box_thresh=0.6)(prob, shapes)[0]) == 2
    assert len(DBPostProcess(box_thresh=0.6, use_dilation=True)(prob, shapes)[0]) == 1


def test_max_candidates_limits_contours():
    rects = [(10 + 30 * i, 10, 30 + 30 * i, 30) for i in range(5)]
    prob = _map_with_rects((64, 200), rects)
    assert len(DBPostProcess(box_thresh=0.6, max_candidates=2)(prob, _shapes(64, 200, 64, 200))[0]) == 2


def test_poly_mode_returns_polygons_around_the_kernel():
    prob = _map_with_rects((120, 120), [(10, 10, 90, 25), (10, 10, 25, 90)])  # L shape
    (det,) = DBPostProcess(box_thresh=0.6, box_type="poly", unclip_ratio=1.5)(
        prob, _shapes(120, 120, 120, 120)
    )
    assert isinstance(det.boxes, list) and len(det.boxes) == 1
    polygon = det.boxes[0]
    assert polygon.dtype == np.int32 and polygon.shape[1] == 2 and len(polygon) >= 6  # the L keeps its notch
    for x, y in [(50, 17), (17, 50), (12, 12)]:  # points of both arms are inside
        assert cv2.pointPolygonTest(polygon.reshape(-1, 1, 2), (x, y), False) > 0
    assert cv2.pointPolygonTest(polygon.reshape(-1, 1, 2), (70, 70), False) < 0  # the notch is outside


def test_accepts_n_h_w_maps_and_batches():
    prob = _map_with_rects((64, 64), [(10, 10, 50, 30)])[:, 0]
    batch = np.concatenate([prob, np.zeros_like(prob)])
    shapes = np.concatenate([_shapes(64, 64, 64, 64)] * 2)
    first, second = DBPostProcess(box_thresh=0.6)(batch, shapes)
    assert len(first) == 1 and len(second) == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"score_mode": "median"}, "score_mode"),  # unknown score mode
        ({"box_type": "circle"}, "box_type"),  # unknown box type
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DBPostProcess(**kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shapes"):
        DBPostProcess()(np.zeros((2, 1, 32, 32), np.float32), _shapes(32, 32, 32, 32))
    with pytest.raises(ValueError, match="prob_maps"):
        DBPostProcess()(np.zeros((32, 32), np.float32), _shapes(32, 32, 32, 32))


# ---------------------------------------------------------------------------------- builder, distillation


def test_build_postprocess_passes_every_field():
    cfg = DBPostProcessConfig(
        thresh=0.2,
        box_thresh=0.5,
        max_candidates=7,
        unclip_ratio=1.7,
        use_dilation=True,
        score_mode="slow",
        box_type="poly",
    )
    post = build_postprocess(cfg)
    assert isinstance(post, DBPostProcess)
    assert (post.thresh, post.box_thresh, post.max_candidates, post.unclip_ratio) == (0.2, 0.5, 7, 1.7)
    assert (post.use_dilation, post.score_mode, post.box_type) == (True, "slow", "poly")


def test_distillation_postprocess_decodes_each_named_model():
    post = build_postprocess(DistillationDBPostProcessConfig(model_name=("Student", "Student2")))
    assert isinstance(post, DistillationDBPostProcess)
    prob = _map_with_rects((64, 64), [(10, 10, 50, 30)])
    out = post({"Student": prob, "Student2": np.zeros_like(prob), "Teacher": prob}, _shapes(64, 64, 64, 64))
    assert set(out) == {"Student", "Student2"}
    assert len(out["Student"][0]) == 1 and len(out["Student2"][0]) == 0
    with pytest.raises(ValueError, match="Student2"):
        post({"Student": prob}, _shapes(64, 64, 64, 64))


def test_build_postprocess_rejects_unknown_config():
    with pytest.raises(ValueError, match="DBPostProcess"):
        build_postprocess(object())


# ------------------------------------------------------------------------------------ filter_det_boxes


def test_filter_det_boxes_orders_clips_and_drops_small():
    boxes = np.array(
        [
            [[50, 10], [50, 30], [10, 30], [10, 10]],  # counter-clockwise from top-right: reordered
            [[-5, -5], [20, -5], [20, 20], [-5, 20]],  # sticks out top-left: clipped to 0
            [[90, 90], [120, 90], [120, 110], [90, 110]],  # sticks out bottom-right: clipped to w-1, h-1
            [[30, 60], [33, 60], [33, 80], [30, 80]],  # 3 px wide: dropped
        ],
        np.int32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    out = filter_det_boxes(Detections(boxes=boxes, scores=scores), (100, 100))
    np.testing.assert_array_equal(out.boxes[0], [[10, 10], [50, 10], [50, 30], [10, 30]])
    np.testing.assert_array_equal(out.boxes[1], [[0, 0], [20, 0], [20, 20], [0, 20]])
    np.testing.assert_array_equal(out.boxes[2], [[90, 90], [99, 90], [99, 99], [90, 99]])
    np.testing.assert_array_equal(out.scores, scores[:3])
    assert out.boxes.dtype == np.int32


def test_filter_det_boxes_on_nothing_and_on_polygons():
    empty = filter_det_boxes(Detections(np.zeros((0, 4, 2), np.int32), np.zeros(0, np.float32)), (10, 10))
    assert empty.boxes.shape == (0, 4, 2)
    poly = filter_det_boxes(
        Detections([np.array([[-3, 2], [40, 2], [40, 50], [2, 50], [-3, 20]])], np.ones(1)), (30, 30)
    )
    np.testing.assert_array_equal(poly.boxes[0], [[0, 2], [29, 2], [29, 29], [2, 29], [0, 20]])


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(8, 40), st.integers(4, 14)),
        min_size=1,
        max_size=6,
        unique_by=lambda c: (c[0], c[1]),
    )
)
def test_property_one_box_per_separated_kernel(cells):
    """Kernels in separate 64x32 grid cells each give exactly one box containing the kernel."""
    rects = [(64 * cx + 8, 32 * cy + 8, 64 * cx + 8 + w, 32 * cy + 8 + h) for cx, cy, w, h in cells]
    (det,) = DBPostProcess(box_thresh=0.6, unclip_ratio=1.5)(
        _map_with_rects((128, 256), rects), _shapes(128, 256, 128, 256)
    )
    assert len(det) == len(rects)
    for x0, y0, x1, y1 in rects:
        inside = [
            b[:, 0].min() <= x0 and b[:, 1].min() <= y0 and b[:, 0].max() >= x1 and b[:, 1].max() >= y1
            for b in det.boxes
        ]
        assert sum(inside) == 1


# --------------------------------------------------------------------------------- PaddleOCR parity


def _golden() -> dict:
    return json.loads((Path(__file__).parent / "golden_paddleocr273_db.json").read_text())


@pytest.mark.parametrize("setting", sorted(PARITY_SETTINGS))
def test_boxes_equal_paddleocr_on_golden_maps(setting):
    """Golden boxes: PaddleOCR 2.7.3 (wheel `paddleocr==2.7.3`, `ppocr/postprocess/db_postprocess.py`,
    `DBPostProcess(**PARITY_SETTINGS[setting])({"maps": map}, shape)[0]["points"]`) run with numpy 2.4.6 and
    opencv 5.0.0 on `postprocess_synthetic_maps.synthetic_map(seed)`. Seeds missing from a setting are maps on
    which that PaddleOCR version raises (numpy 2 rejects its ragged multi-path unclip result)."""
    golden = _golden()[setting]
    post = DBPostProcess(**PARITY_SETTINGS[setting])
    assert len(golden) >= len(SEEDS) - 1
    for seed, want in golden.items():
        prob, shape = synthetic_map(int(seed))
        (det,) = post(prob, shape)
        got = [np.asarray(b).tolist() for b in det.boxes]
        assert got == want, f"seed {seed}"
