"""DB targets (MakeBorderMap / MakeShrinkMap) and label encoding: fact-sheet numbers, a loop reference for
the vectorised distance, hypothesis properties, and degenerate polygons that crash PaddleOCR."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from det_model.data import skips
from det_model.data.geometry import offset_polygon, shrink_distance
from det_model.data.label_file import parse_label_json
from det_model.data.transforms import DetLabelEncode, MakeBorderMap, MakeShrinkMap
from det_model.data.transforms.make_border_map import edge_distances

RNG = np.random.default_rng(0)


def _sample(polys: list, tags: list, hw: tuple[int, int] = (200, 200)) -> dict:
    from det_model.data.transforms.det_label_encode import pad_polygons
    return {"image": np.zeros(hw + (3,), np.uint8), "polys": pad_polygons([np.float32(p) for p in polys]),
            "ignore_tags": np.array(tags, bool), "texts": ["t"] * len(polys)}


def _targets(polys: list, tags: list, hw: tuple[int, int] = (200, 200)) -> dict:
    sample = MakeBorderMap()(_sample(polys, tags, hw), RNG)
    return MakeShrinkMap()(sample, RNG)


BOX_100x20 = [[50, 50], [150, 50], [150, 70], [50, 70]]


def test_100x20_box_gives_86x6_kernel_and_7px_border() -> None:
    # DB shrink offset D = A * (1 - r^2) / L with r = 0.4: 0.84 * 2000 / 240 = 7.
    distance, area = shrink_distance(np.float32(BOX_100x20), 0.4)
    assert area == 2000 and distance == pytest.approx(7.0)
    (kernel,) = MakeShrinkMap().shrink(np.float32(BOX_100x20))
    assert tuple(kernel.max(axis=0) - kernel.min(axis=0)) == (86, 6)
    out = _targets([BOX_100x20], [False])
    ys, xs = np.nonzero(out["threshold_mask"])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (43, 157, 43, 77)  # padded by 7 px on every side
    ys, xs = np.nonzero(out["shrink_map"])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (57, 143, 57, 63)  # fillPoly includes the end pixel
    # On the box edge the canvas is 1 -> threshold 0.7; at D outside it falls to 0.3.
    assert out["threshold_map"][50, 100] == pytest.approx(0.7)
    assert out["threshold_map"][43, 100] == pytest.approx(0.3)
    assert out["threshold_map"][0, 0] == pytest.approx(0.3)


def _reference_distance(xs: np.ndarray, ys: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """DBNet's per-edge formula written out directly (distance from each pixel to the polygon edge), float64."""
    d1 = (xs - p1[0]) ** 2 + (ys - p1[1]) ** 2
    d2 = (xs - p2[0]) ** 2 + (ys - p2[1]) ** 2
    s = (p1[0] - p2[0]) ** 2 + (p1[1] - p2[1]) ** 2
    with np.errstate(all="ignore"):
        cosin = (s - d1 - d2) / (2 * np.sqrt(d1 * d2))
        sin2 = np.nan_to_num(1 - cosin ** 2)
        result = np.sqrt(d1 * d2 * sin2 / s)
    result[cosin < 0] = np.sqrt(np.fmin(d1, d2))[cosin < 0]
    return result


def test_vectorised_edge_distance_matches_reference() -> None:
    poly = np.array([[3.0, 2.0], [30.0, 5.0], [27.0, 20.0], [1.0, 14.0]])
    ys, xs = np.mgrid[0:25, 0:35].astype(np.float64)
    fast = edge_distances(xs[None].astype(np.float32), ys[None].astype(np.float32), poly.astype(np.float32),
                          np.roll(poly, -1, axis=0).astype(np.float32))
    for i in range(4):
        expected = _reference_distance(xs, ys, poly[i], poly[(i + 1) % 4])
        np.testing.assert_allclose(fast[i], expected, rtol=1e-4, atol=1e-3)
    # The quirk: where the angle at the pixel is acute, the nearer endpoint's distance is used, so a pixel
    # beyond the segment's end on its own line is NOT at distance 0.
    far = _reference_distance(np.array([60.0]), np.array([0.0]), np.array([0.0, 0.0]), np.array([10.0, 0.0]))
    assert far[0] == pytest.approx(50.0)


def _rect(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return corners @ np.array([[c, s], [-s, c]]) + (cx, cy)


def _round_trip_iou(poly: np.ndarray) -> float:
    distance, _ = shrink_distance(poly, 0.4)
    shrunk = MakeShrinkMap().shrink(poly)
    assert len(shrunk) == 1
    grown = offset_polygon(shrunk[0], distance)
    assert len(grown) == 1
    original, recovered = Polygon(poly), Polygon(grown[0])
    return original.intersection(recovered).area / original.union(recovered).area


@settings(max_examples=60, deadline=None)
@given(x=st.integers(0, 500), y=st.integers(0, 500), w=st.integers(16, 400), h=st.integers(16, 200))
def test_shrink_then_unclip_recovers_axis_aligned_box(x: int, y: int, w: int, h: int) -> None:
    box = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)
    assert _round_trip_iou(box) > 0.9


@settings(max_examples=60, deadline=None)
@given(w=st.floats(80, 400), h=st.floats(80, 200), angle=st.floats(0, np.pi), c=st.floats(300, 301))
def test_shrink_then_unclip_recovers_rotated_box(w: float, h: float, angle: float, c: float) -> None:
    assert _round_trip_iou(_rect(c, c, w, h, angle)) > 0.9


@settings(max_examples=60, deadline=None)
@given(w=st.floats(16, 300), h=st.floats(16, 80), angle=st.floats(0, np.pi), c=st.floats(300, 301))
def test_shrink_then_unclip_small_rotated_box(w: float, h: float, angle: float, c: float) -> None:
    # pyclipper works on integer coordinates (it truncates ours, as in PaddleOCR): on small rotated boxes
    # the kernel's vertices move by up to a pixel, which costs up to ~20% IoU at 16 px.
    assert _round_trip_iou(_rect(c, c, w, h, angle)) > 0.75


quad = st.lists(st.tuples(st.floats(-20, 120), st.floats(-20, 120)), min_size=3, max_size=8)


@settings(max_examples=80, deadline=None)
@given(polys=st.lists(quad, min_size=1, max_size=4), tags=st.lists(st.booleans(), min_size=4, max_size=4))
def test_targets_are_bounded_and_never_crash(polys: list, tags: list) -> None:
    # Arbitrary point lists: degenerate, self-intersecting, partly outside the 100x100 image.
    out = _targets(polys, tags[: len(polys)], hw=(100, 100))
    assert out["threshold_map"].min() >= 0.3 - 1e-6 and out["threshold_map"].max() <= 0.7 + 1e-6
    assert set(np.unique(out["threshold_mask"])) <= {0.0, 1.0}
    assert set(np.unique(out["shrink_map"])) <= {0.0, 1.0}


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, 60), y=st.integers(0, 60), w=st.integers(10, 39), h=st.integers(10, 39))
def test_shrink_mask_is_zero_on_ignored_boxes(x: int, y: int, w: int, h: int) -> None:
    box = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    out = _targets([box], [True], hw=(100, 100))
    assert np.all(out["shrink_mask"][y: y + h, x: x + w] == 0)
    assert out["shrink_map"].sum() == 0 and out["threshold_mask"].sum() == 0
    cared = _targets([box], [False], hw=(100, 100))
    assert cared["shrink_mask"].min() == 1 and cared["shrink_map"].sum() > 0


def test_small_text_is_ignored() -> None:
    out = _targets([[[10, 10], [60, 10], [60, 17], [10, 17]]], [False])  # 7 px tall < min_text_size 8
    assert out["ignore_tags"].tolist() == [True] and out["shrink_mask"][12, 30] == 0


DEGENERATE = [
    # (case, points, expected event)
    ("zero area: collinear", [[0, 0], [10, 0], [20, 0], [5, 0]], skips.BOX_DEGENERATE),
    ("zero area: repeated point", [[5, 5], [5, 5], [5, 5]], skips.BOX_DEGENERATE),
    ("bow tie", [[0, 0], [40, 40], [40, 0], [0, 30]], skips.BOX_SELF_INTERSECTING),
    ("self-touching", [[0, 0], [40, 0], [20, 20], [40, 40], [0, 40], [20, 20]], skips.BOX_SELF_INTERSECTING),
]


@pytest.mark.parametrize("case,points,event", DEGENERATE, ids=[c[0] for c in DEGENERATE])
def test_degenerate_polygons_become_ignored_and_do_not_crash(case: str, points: list, event: str) -> None:
    import json
    label = json.dumps([{"transcription": "text", "points": points},
                        {"transcription": "ok", "points": [[50, 50], [90, 50], [90, 70], [50, 70]]}])
    sample = {"image": np.zeros((100, 100, 3), np.uint8), "label": label, "img_path": "x.jpg"}
    sample = DetLabelEncode()(sample, RNG)
    assert sample["ignore_tags"].tolist() == [True, False]
    assert [r.reason for r in sample["skips"]] == [event]
    out = MakeShrinkMap()(MakeBorderMap()(sample, RNG), RNG)
    assert out["shrink_map"][60, 70] == 1  # the good box is still a target


def test_label_encode_pads_points_and_drops_boxes_outside_image() -> None:
    entries = parse_label_json(
        '[{"transcription": "a", "points": [[1, 1], [9, 1], [9, 9], [1, 9]]},'
        ' {"transcription": "b", "points": [[20, 1], [30, 1], [35, 5], [30, 9], [20, 9], [18, 5]]},'
        ' {"transcription": "c", "points": [[500, 500], [510, 500], [510, 510], [500, 510]]},'
        ' {"transcription": "###", "points": [[-5, 2], [5, 2], [5, 8], [-5, 8]]}]', "f:1")
    sample = DetLabelEncode()({"image": np.zeros((40, 40, 3), np.uint8), "label": entries}, RNG)
    assert sample["polys"].shape == (3, 6, 2) and sample["polys"].dtype == np.float32
    np.testing.assert_array_equal(sample["polys"][0, 4:], [[1, 9], [1, 9]])  # padded with the last point
    assert sample["texts"] == ["a", "b", "###"] and sample["ignore_tags"].tolist() == [False, False, True]
    assert [r.reason for r in sample["skips"]] == [skips.BOX_OUTSIDE_IMAGE]


def test_image_without_boxes_is_a_negative_sample() -> None:
    sample = DetLabelEncode()({"image": np.zeros((40, 40, 3), np.uint8), "label": "[]"}, RNG)
    out = MakeShrinkMap()(MakeBorderMap()(sample, RNG), RNG)
    assert out["polys"].shape == (0, 4, 2) and out["shrink_map"].sum() == 0 and out["shrink_mask"].min() == 1


def _reference_threshold_map(polys: list, hw: tuple[int, int], shrink_ratio: float = 0.4,
                             grid_dtype: type = np.float64) -> np.ndarray:
    """MakeBorderMap written out per edge as DBNet/PaddleOCR define it (row 8 of issue 16): float32 polygon
    relative to the padded box, float64 pixel grid and distances (the squared edge length from the float32
    corners), each edge's clip(d / D) kept in float32, NaN-propagating min over the edges, fmax into the
    canvas."""
    canvas = np.zeros(hw, np.float32)
    for points in polys:
        poly = np.float32(points)
        distance, _ = shrink_distance(poly, shrink_ratio)
        padded = offset_polygon(poly, distance)[0]
        xmin, ymin = padded.min(axis=0)
        xmax, ymax = padded.max(axis=0)
        rel = poly.copy()
        rel[:, 0] = rel[:, 0] - xmin
        rel[:, 1] = rel[:, 1] - ymin
        width, height = xmax - xmin + 1, ymax - ymin + 1
        xs = np.broadcast_to(np.linspace(0, width - 1, num=width, dtype=grid_dtype).reshape(1, width),
                             (height, width))
        ys = np.broadcast_to(np.linspace(0, height - 1, num=height, dtype=grid_dtype).reshape(height, 1),
                             (height, width))
        per_edge = np.zeros((len(rel), height, width), np.float32)
        for i in range(len(rel)):
            d = _reference_distance(xs, ys, rel[i], rel[(i + 1) % len(rel)])
            per_edge[i] = np.clip(d / distance, 0, 1)
        per_edge = per_edge.min(axis=0)
        x0, x1 = min(max(0, xmin), hw[1] - 1), min(max(0, xmax), hw[1] - 1)
        y0, y1 = min(max(0, ymin), hw[0] - 1), min(max(0, ymax), hw[0] - 1)
        canvas[y0:y1 + 1, x0:x1 + 1] = np.fmax(
            1 - per_edge[y0 - ymin:y1 - ymin + 1, x0 - xmin:x1 - xmin + 1], canvas[y0:y1 + 1, x0:x1 + 1])
    return canvas * (0.7 - 0.3) + 0.3


EDGE_POLYGONS = [
    [[10, 10], [50, 10], [50, 30], [10, 30]],  # integer rectangle: rows/columns of pixels on its edges
    [[60, 12], [100, 40], [90, 55], [52, 27]],  # integer slopes: pixels exactly on the diagonal edges
    [[20.5, 60.25], [70.75, 62.5], [69.0, 80.125], [21.0, 78.0]],  # fractional corners
    [[5, 90], [45, 90], [45, 98], [25, 110], [5, 98]],  # pentagon with a 45-degree edge
    (np.array([[66, 74], [66, 92], [72, 133], [11, 124]]) / 3 + 70).tolist(),  # thirds: float32 NaN pixels
]


@pytest.mark.parametrize("polys", [[p] for p in EDGE_POLYGONS] + [EDGE_POLYGONS])
def test_threshold_map_equals_float64_reference_on_edge_pixels(polys: list) -> None:
    out = MakeBorderMap()(_sample(polys, [False] * len(polys), hw=(120, 120)), RNG)
    expected = _reference_threshold_map(polys, (120, 120))
    np.testing.assert_array_equal(out["threshold_map"], expected)


def test_float32_distances_would_differ_from_the_reference() -> None:
    """The test above can fail: computed in float32, other pixels of the thirds polygon's edges are NaN (and
    keep 0.3), so the threshold map differs from the float64 reference there."""
    polys = EDGE_POLYGONS[-1:]
    with np.errstate(all="ignore"):
        float32 = _reference_threshold_map(polys, (120, 120), grid_dtype=np.float32)
    difference = np.abs(float32 - _reference_threshold_map(polys, (120, 120)))
    assert difference.max() > 0.1  # a NaN-dropped edge pixel: 0.3 (or an earlier value) instead of ~0.7
