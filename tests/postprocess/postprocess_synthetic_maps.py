"""Deterministic synthetic DB probability maps shared by the PaddleOCR parity test and its golden file."""

from __future__ import annotations

import cv2
import numpy as np

# Post-processing settings the golden file was produced with (PaddleOCR DBPostProcess keyword arguments).
PARITY_SETTINGS: dict[str, dict] = {
    "ppocrv3_quad_fast": {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5},
    "quad_slow": {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "score_mode": "slow"},
    "quad_dilation": {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "use_dilation": True},
    "poly": {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5, "box_type": "poly"},
    "defaults": {},
}


def synthetic_map(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, 1, H, W) float32 map of blurred rotated text-like bars over noise, and its (1, 4) shape row."""
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(6, 14)) * 32, int(rng.integers(6, 14)) * 32
    prob = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(3, 12))):
        center = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        size = (float(rng.uniform(10, 140)), float(rng.uniform(3, 30)))
        corners = cv2.boxPoints((center, size, float(rng.uniform(-45, 45))))
        cv2.fillPoly(prob, [np.round(corners).astype(np.int32)], float(rng.uniform(0.5, 1.0)))
    prob = cv2.GaussianBlur(prob, (0, 0), float(rng.uniform(0.5, 3.0)))
    prob += rng.uniform(0, 0.2, prob.shape).astype(np.float32)
    prob += (rng.uniform(0, 1, prob.shape) > 0.995).astype(np.float32) * 0.3  # isolated specks
    src_h, src_w = height * float(rng.uniform(0.5, 3.0)), width * float(rng.uniform(0.5, 3.0))
    shape = np.array([[round(src_h), round(src_w), height / round(src_h), width / round(src_w)]], np.float64)
    return np.clip(prob, 0, 1)[None, None], shape


SEEDS = tuple(range(12))
