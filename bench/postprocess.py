"""2. DB post-processing: our `DBPostProcess` vs PaddleOCR 2.7.3's, on the same probability maps, one thread.

The maps are the released PP-OCRv3 detector's (onnxruntime) on the sample images, at the eval resize
(736 / min) and the inference resize (960 / max). Both sides use the recipe's settings (thresh 0.3,
box_thresh 0.6, unclip_ratio 1.5, max_candidates 1000, quad, fast score). Goal: <= 0.5x PaddleOCR's time with
identical boxes.
"""

from __future__ import annotations

import numpy as np

from bench.common import (
    RELEASED_ONNX, BenchOptions, Figure, SectionSkipped, image_paths, interleaved, median, profile_top, spread,
)
from bench.peer import PADDLEOCR_VERSION, load_db_postprocess

TITLE = "DB post-processing vs PaddleOCR's DBPostProcess"
SETTINGS = {"thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000, "unclip_ratio": 1.5, "use_dilation": False,
            "score_mode": "fast", "box_type": "quad"}
RESIZES = {"736/min": (736, "min"), "960/max": (960, "max")}


def probability_maps(options: BenchOptions, limit_side_len: int, limit_type: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prob map (1, 1, H, W), shape row (1, 4)) per sample image, from the released model under onnxruntime."""
    import cv2
    import onnxruntime as ort

    from det_model.data.transforms import DetResizeForTest, NormalizeImage, ToCHWImage

    if not RELEASED_ONNX.is_file():
        raise SectionSkipped(f"released model not found at {RELEASED_ONNX}")
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(RELEASED_ONNX), session_options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    ops = [DetResizeForTest(limit_side_len=limit_side_len, limit_type=limit_type), NormalizeImage(), ToCHWImage()]
    maps = []
    for path in image_paths(options):
        sample = {"image": cv2.imread(str(path)), "img_path": str(path)}
        for op in ops:
            sample = op(sample, rng)
        prob = session.run(None, {input_name: sample["image"][None].astype(np.float32)})[0]
        maps.append((np.ascontiguousarray(prob), np.asarray(sample["shape"], np.float64)[None]))
    return maps


def boxes_equal(ours, peer) -> bool:
    """Same boxes in the same order: our int32 (K, 4, 2) vs PaddleOCR's list/array of (4, 2)."""
    peer_boxes = np.asarray(peer, dtype=np.int64).reshape(-1, 4, 2)
    ours_boxes = np.asarray(ours, dtype=np.int64).reshape(-1, 4, 2)
    return peer_boxes.shape == ours_boxes.shape and bool(np.array_equal(peer_boxes, ours_boxes))


def run(options: BenchOptions) -> dict:
    import cv2

    from det_model.postprocess import DBPostProcess

    cv2.setNumThreads(1)  # "one thread", both sides
    peer_class = load_db_postprocess()
    ours = DBPostProcess(**SETTINGS)
    peer = peer_class(**SETTINGS)
    repeats = options.repeats or (3 if options.quick else 30)
    figures, rows, notes = [], [], []
    profiles = {}
    for label, (side, kind) in RESIZES.items():
        maps = probability_maps(options, side, kind)
        mismatched = [i for i, (prob, shape) in enumerate(maps)
                      if not boxes_equal(ours(prob, shape)[0].boxes, peer({"maps": prob}, shape)[0]["points"])]
        box_count = sum(len(ours(prob, shape)[0]) for prob, shape in maps)

        def run_ours(maps=maps) -> None:
            for prob, shape in maps:
                ours(prob, shape)

        def run_peer(maps=maps) -> None:
            for prob, shape in maps:
                peer({"maps": prob}, shape)

        times = interleaved({"ours": run_ours, "paddleocr": run_peer}, repeats=repeats, warmup=2)
        per_image = {k: [t / len(maps) for t in v] for k, v in times.items()}
        ours_ms, peer_ms = median(per_image["ours"]) * 1e3, median(per_image["paddleocr"]) * 1e3
        height, width = maps[0][0].shape[2:]
        rows.append({"maps": label, "first map (HxW)": f"{height}x{width}", "images": len(maps), "boxes": box_count,
                     "ours ms/image": round(ours_ms, 3), "ours min-max": spread(per_image["ours"]),
                     "PaddleOCR ms/image": round(peer_ms, 3), "PaddleOCR min-max": spread(per_image["paddleocr"]),
                     "ratio": round(ours_ms / peer_ms, 3), "identical boxes": not mismatched})
        note = "identical boxes" if not mismatched else f"boxes differ on images {mismatched}"
        figures.append(Figure(f"post-processing time, {label} maps (ms/image, 1 thread)", ours_ms, peer_ms, "ms",
                              "<= 0.5", note=note))
        figures[-1].met = bool(figures[-1].met and not mismatched)
        if options.profile:
            profiles[label] = profile_top(lambda maps=maps: [ours(p, s) for _ in range(5) for p, s in maps])
    notes.append(f"Peer: `ppocr/postprocess/db_postprocess.py` of the paddleocr=={PADDLEOCR_VERSION} wheel, loaded "
                 "as one module; both sides get the same float32 (1, 1, H, W) map per call (batch of 1), "
                 f"median of {repeats} interleaved passes over the images, cv2.setNumThreads(1).")
    tables = {"per resize": rows}
    for label, top in profiles.items():
        tables[f"cProfile of ours, {label} (top self time)"] = top
    return {"title": TITLE, "figures": figures, "tables": tables, "notes": notes}
