"""DetMetric under the ICDAR2015 protocol: edge cases, properties, and a plain-loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from det_model.config.schema import DetMetricConfig, DistillationMetricConfig
from det_model.metrics import DetMetric, DistillationMetric, ImageCounts, build_metric, evaluate_image


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


BOWTIE = [[0, 0], [10, 10], [10, 0], [0, 10]]  # self-intersecting: invalid for GEOS

# (detections, ground truth, ignore tags, expected (gt_care, det_care, det_matched))
EDGE_CASES = {
    # IoU = 50 / 100 exactly: not a match (IoU must be > 0.5)
    "iou_exactly_half": ([rect(0, 0, 10, 5)], [rect(0, 0, 10, 10)], [False], (1, 1, 0)),
    # IoU = 60 / 100: a match
    "iou_above_half": ([rect(0, 0, 10, 6)], [rect(0, 0, 10, 10)], [False], (1, 1, 1)),
    # no ground truth: every detection is a false positive
    "empty_gt": ([rect(0, 0, 10, 10)], [], [], (0, 1, 0)),
    # no detections: every GT box is missed
    "empty_detections": ([], [rect(0, 0, 10, 10)], [False], (1, 0, 0)),
    # nothing at all
    "both_empty": ([], [], [], (0, 0, 0)),
    # only ignored GT, the detection lies on it: neither side counts
    "all_ignored": ([rect(0, 0, 10, 10)], [rect(0, 0, 10, 10)], [True], (0, 0, 0)),
    # a detection half inside an ignored box (exactly 0.5 of its own area) still counts
    "dont_care_exactly_half": ([rect(5, 0, 15, 10)], [rect(0, 0, 10, 10)], [True], (0, 1, 0)),
    # more than half of the detection inside the ignored box: it is ignored
    "dont_care_above_half": ([rect(4, 0, 14, 10)], [rect(0, 0, 10, 10)], [True], (0, 0, 0)),
    # a big detection covering a small ignored box is judged by its own area: it counts
    "dont_care_small_ignored_box": ([rect(0, 0, 100, 100)], [rect(0, 0, 10, 10)], [True], (0, 1, 0)),
    # two identical detections on one GT: one-to-one, the duplicate is a false positive
    "duplicate_detections": ([rect(0, 0, 10, 10)] * 2, [rect(0, 0, 10, 10)], [False], (1, 2, 1)),
    # one detection over two GT boxes: it matches at most one
    "one_det_two_gts": (
        [rect(0, 0, 20, 10)],
        [rect(0, 0, 12, 10), rect(12, 0, 20, 10)],
        [False, False],
        (2, 1, 1),
    ),
    # greedy, not optimal: GT A takes the first det above 0.5 (IoU 0.8) although the second (0.71) would have
    # left the first for GT B (0.75), so one match instead of two, as in PaddleOCR's evaluator
    "greedy_in_order": (
        [rect(0, 0, 10, 8), rect(0, 0, 10, 14)],
        [rect(0, 0, 10, 10), rect(0, 0, 10, 6)],
        [False, False],
        (2, 2, 1),
    ),
    # an invalid GT polygon is dropped entirely
    "invalid_gt_dropped": ([rect(0, 0, 10, 10)], [BOWTIE], [False], (0, 1, 0)),
    # an invalid detection is dropped entirely
    "invalid_det_dropped": ([BOWTIE], [rect(0, 0, 10, 10)], [False], (1, 0, 0)),
    # a GT with two points cannot be a polygon: dropped, not a crash
    "degenerate_gt_two_points": ([], [[[0, 0], [5, 5]]], [False], (0, 0, 0)),
    # a detection on an ignored box and another on a cared-for box
    "mixed_care": (
        [rect(0, 0, 10, 10), rect(20, 0, 30, 10)],
        [rect(0, 0, 10, 10), rect(20, 0, 30, 10)],
        [True, False],
        (1, 1, 1),
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases(case):
    dets, gts, tags, (gt_care, det_care, matched) = EDGE_CASES[case]
    counts = evaluate_image(dets, gts, tags)
    assert (counts.gt_care, counts.det_care, counts.det_matched) == (gt_care, det_care, matched)


def test_invalid_polygons_are_counted():
    counts = evaluate_image([BOWTIE], [BOWTIE, rect(0, 0, 5, 5)], [False, True])
    assert (counts.gt_invalid, counts.det_invalid) == (1, 1)


def test_global_sums_not_per_image_means():
    metric = DetMetric()
    metric.update([rect(0, 0, 10, 10)], [rect(0, 0, 10, 10)], [False])  # 1 of 1 found
    metric.update([], [rect(0, 0, 10, 10), rect(20, 0, 30, 10), rect(40, 0, 50, 10)], [False] * 3)  # 0 of 3
    result = metric.get_metric()
    assert result["recall"] == pytest.approx(1 / 4)  # the per-image mean would be 0.5
    assert result["precision"] == pytest.approx(1.0)
    assert result["hmean"] == pytest.approx(2 * 0.25 / 1.25)
    assert (result["images"], result["gt_care"], result["det_care"], result["det_matched"]) == (2, 4, 1, 1)
    assert result["boxes"] == 1


def test_zero_denominators_give_zero():
    metric = DetMetric()
    metric.update([], [], [])
    assert metric.get_metric() == {
        "precision": 0.0,
        "recall": 0.0,
        "hmean": 0.0,
        "images": 1,
        "gt_care": 0,
        "det_care": 0,
        "det_matched": 0,
        "boxes": 0,
        "gt_invalid": 0,
        "det_invalid": 0,
    }


def test_get_metric_resets():
    metric = DetMetric()
    metric.update([rect(0, 0, 10, 10)], [rect(0, 0, 10, 10)], [False])
    assert metric.get_metric()["hmean"] == 1.0
    assert metric.get_metric()["images"] == 0


def test_accepts_arrays_and_batches():
    metric = DetMetric()
    boxes = np.array([rect(0, 0, 10, 10)], np.int32)  # what DBPostProcess returns
    metric.update_batch(
        [boxes, boxes[:0]], [np.array([rect(0, 0, 10, 10)], np.float32)] * 2, [[False], [False]]
    )
    assert metric.get_metric()["recall"] == 0.5
    with pytest.raises(ValueError, match="batch sizes"):
        metric.update_batch([boxes], [], [])
    with pytest.raises(ValueError, match="ignore_tags"):
        metric.update(boxes, [rect(0, 0, 1, 1)], [False, True])


def test_distillation_metric_prefixes_all_but_the_key_model():
    metric = build_metric(DistillationMetricConfig(key="Student"))
    assert isinstance(metric, DistillationMetric)
    gt = [rect(0, 0, 10, 10)]
    metric.update({"Student": [rect(0, 0, 10, 10)], "Student2": []}, gt, [False])
    result = metric.get_metric()
    assert result["hmean"] == 1.0 and result["Student2_hmean"] == 0.0
    assert "Student_hmean" not in result and "Student2_precision" in result


def test_build_metric():
    assert isinstance(build_metric(DetMetricConfig()), DetMetric)
    with pytest.raises(ValueError, match="DetMetric"):
        build_metric(object())


# ------------------------------------------------------------------------------------------ properties

# Boxes in separate cells of a 100 px grid, so each GT has exactly one candidate detection.
separated_boxes = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(5, 90), st.integers(5, 90)),
    min_size=0,
    max_size=12,
    unique_by=lambda b: (b[0], b[1]),
).map(lambda cells: [rect(100 * i, 100 * j, 100 * i + w, 100 * j + h) for i, j, w, h in cells])


@settings(max_examples=50, deadline=None)
@given(gts=separated_boxes.filter(len))
def test_property_hmean_is_one_on_ground_truth(gts):
    metric = DetMetric()
    metric.update(gts, gts, [False] * len(gts))
    assert metric.get_metric()["hmean"] == 1.0


@settings(max_examples=50, deadline=None)
@given(gts=separated_boxes, data=st.data())
def test_property_permutation_invariance(gts, data):
    tags = data.draw(st.lists(st.booleans(), min_size=len(gts), max_size=len(gts)))
    jitter = data.draw(st.lists(st.integers(-3, 3), min_size=len(gts), max_size=len(gts)))
    dets = [np.array(g) + j for g, j in zip(gts, jitter)] + [
        rect(700, 700, 720, 710)
    ]  # plus a false positive
    gt_order = data.draw(st.permutations(range(len(gts))))
    det_order = data.draw(st.permutations(range(len(dets))))
    base = evaluate_image(dets, gts, tags)
    permuted = evaluate_image(
        [dets[i] for i in det_order], [gts[i] for i in gt_order], [tags[i] for i in gt_order]
    )
    assert base == permuted


def _reference_counts(dets, gts, tags) -> ImageCounts:
    """Plain per-pair loops over shapely Polygons, written straight from the protocol description."""
    gt_polys = [shapely.Polygon(g) for g in gts]
    keep_gt = [i for i, p in enumerate(gt_polys) if p.is_valid]
    gt_polys, tags = [gt_polys[i] for i in keep_gt], [tags[i] for i in keep_gt]
    det_polys = [p for p in (shapely.Polygon(d) for d in dets) if p.is_valid]
    det_ignored = []
    for det in det_polys:
        ratios = [
            g.intersection(det).area / det.area if det.area else 0.0 for g, t in zip(gt_polys, tags) if t
        ]
        det_ignored.append(any(r > 0.5 for r in ratios))
    gt_used, det_used, matched = [False] * len(gt_polys), [False] * len(det_polys), 0
    for gi, g in enumerate(gt_polys):
        for di, d in enumerate(det_polys):
            if gt_used[gi] or det_used[di] or tags[gi] or det_ignored[di]:
                continue
            if d.intersection(g).area / d.union(g).area > 0.5:
                gt_used[gi] = det_used[di] = True
                matched += 1
    return ImageCounts(
        gt_care=len(gt_polys) - sum(tags),
        det_care=len(det_polys) - sum(det_ignored),
        det_matched=matched,
        boxes=len(dets),
        gt_invalid=len(gts) - len(gt_polys),
        det_invalid=len(dets) - len(det_polys),
    )


overlapping_quads = st.lists(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=4, max_size=4), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(dets=overlapping_quads, gts=overlapping_quads, data=st.data())
def test_property_matches_plain_loop_reference(dets, gts, data):
    """Random, overlapping and sometimes invalid quads: the vectorised evaluation equals the loops."""
    tags = data.draw(st.lists(st.booleans(), min_size=len(gts), max_size=len(gts)))
    assert evaluate_image(dets, gts, tags) == _reference_counts(dets, gts, tags)
