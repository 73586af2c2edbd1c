"""Seeded synthetic scene text: real TrueType fonts (the DejaVu fonts matplotlib ships), rotated and
multi-line text blocks on varied backgrounds with distractor shapes, exact line-level polygons, and some
don't-care ("###") regions (tiny or blurred text). Writes `images/*.jpg` + `label.txt` (PaddleOCR format).

Deterministic: image i depends only on (seed, i). Built for learnability (clear contrast, 12-60 px text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from det_model.data.label_file import format_label_line

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSansMono.ttf", "DejaVuSans-Oblique.ttf")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
WORDS = ("OPEN", "SALE", "exit", "Hotel", "Station", "PARK", "Coffee", "STOP", "Bank", "Market", "Taxi",
         "Pharmacy", "Street", "Bus", "Welcome", "Information", "Ticket", "Tea", "Books", "Gate", "Road")
# Minimum grey-level difference between text and the mean background under it ("clear contrast" above).
MIN_CONTRAST = 100.0


@dataclass(frozen=True)
class SynthOptions:
    size: tuple[int, int] = (384, 512)  # (h, w)
    blocks: tuple[int, int] = (2, 6)  # text blocks per image, inclusive
    font_px: tuple[int, int] = (12, 60)
    max_angle: float = 30.0  # degrees; a third of the blocks are horizontal
    ignored_fraction: float = 0.15  # blocks rendered tiny or blurred and labelled "###"
    jpeg_quality: int = 92


def font_dir() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


_FONT_CACHE: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    key = (name, px)
    if key not in _FONT_CACHE:
        _FONT_CACHE[key] = ImageFont.truetype(str(font_dir() / name), px)
    return _FONT_CACHE[key]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Two-colour gradient, smooth noise and a few distractor shapes (lines, rectangles, circles)."""
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, w if rng.random() < 0.5 else h, dtype=np.float32)
    ramp = (c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]).astype(np.float32)
    image = np.broadcast_to(ramp[None] if len(t) == w else ramp[:, None], (h, w, 3)).copy()
    noise = cv2.resize(rng.normal(0, 18, (h // 16 + 1, w // 16 + 1, 3)).astype(np.float32), (w, h))
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.line(image, p0, p1, color, int(rng.integers(1, 6)), cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(image, p0, p1, color, int(rng.choice([-1, 2, 4])))
        else:
            cv2.circle(image, p0, int(rng.integers(5, max(6, min(h, w) // 4))), color, int(rng.choice([-1, 3])))
    return image


def _text(rng: np.random.Generator) -> str:
    words = []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            words.append(str(rng.choice(WORDS)))
        else:
            words.append("".join(rng.choice(list(ALPHABET), int(rng.integers(2, 9)))))
    return " ".join(words)


def _render_block(rng: np.random.Generator, px: int) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Render 1-3 lines as an 8-bit alpha mask; returns (alpha, line rectangles [4, 2], texts)."""
    font = _font(str(rng.choice(FONT_FILES)), px)
    texts = [_text(rng) for _ in range(int(rng.choice([1, 1, 1, 2, 3])))]
    boxes = [font.getbbox(t) for t in texts]
    gap = max(2, px // 3)
    width = max(b[2] - b[0] for b in boxes) + 4
    height = sum(b[3] - b[1] for b in boxes) + gap * (len(texts) - 1) + 4
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    rects, y = [], 2
    for text, (x0, y0, x1, y1) in zip(texts, boxes):
        draw.text((2 - x0, y - y0), text, font=font, fill=255)
        rects.append(np.array([[2, y], [2 + x1 - x0, y], [2 + x1 - x0, y + y1 - y0], [2, y + y1 - y0]], float))
        y += (y1 - y0) + gap
    return np.asarray(canvas), rects, texts


def _rotate(alpha: np.ndarray, rects: list[np.ndarray], angle: float) -> tuple[np.ndarray, list[np.ndarray]]:
    h, w = alpha.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) @ matrix[:, :2].T + matrix[:, 2]
    matrix[:, 2] -= corners.min(axis=0)
    size = tuple(int(np.ceil(v)) for v in corners.max(axis=0) - corners.min(axis=0))
    rotated = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)
    return rotated, [r @ matrix[:, :2].T + matrix[:, 2] for r in rects]


def _contrasting_color(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    """A text colour whose grey level differs from the mean of `region` (the pixels under the glyphs) by at
    least MIN_CONTRAST: random hue, pushed towards black on light backgrounds and white on dark ones."""
    background = float(region.mean()) if region.size else 128.0
    dark_text = background > 127.5
    extreme = 0.0 if dark_text else 255.0
    color = rng.integers(0, 256, 3).astype(np.float32) * 0.35 + rng.uniform(0, 50) * 0.65
    if not dark_text:
        color = 255.0 - color
    shortfall = MIN_CONTRAST - abs(float(color.mean()) - background)
    if shortfall > 0:  # blend towards the extreme just enough (the extreme itself is >= 127.5 away)
        color += (extreme - color) * min(1.0, shortfall / max(abs(extreme - float(color.mean())), 1e-6))
    return np.clip(color, 0, 255).astype(np.float32)


def _overlaps(box: np.ndarray, taken: list[np.ndarray], margin: float = 4.0) -> bool:
    x0, y0 = box.min(axis=0) - margin
    x1, y1 = box.max(axis=0) + margin
    return any(not (x1 < t[:, 0].min() or x0 > t[:, 0].max() or y1 < t[:, 1].min() or y0 > t[:, 1].max())
               for t in taken)


def _place_block(image: np.ndarray, rng: np.random.Generator, opts: SynthOptions, taken: list[np.ndarray],
                 ignored: bool) -> list[tuple[np.ndarray, str]]:
    h, w = image.shape[:2]
    tiny = ignored and rng.random() < 0.5
    px = int(rng.integers(5, 9)) if tiny else int(rng.integers(opts.font_px[0], opts.font_px[1] + 1))
    alpha, rects, texts = _render_block(rng, px)
    angle = 0.0 if rng.random() < 1 / 3 else float(rng.uniform(-opts.max_angle, opts.max_angle))
    alpha, rects = _rotate(alpha, rects, angle)
    if ignored and not tiny:
        alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=max(2.0, px / 6))
    bh, bw = alpha.shape
    if bh >= h or bw >= w:
        return []
    for _ in range(20):
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        placed = [r + (x, y) for r in rects]
        if not any(_overlaps(r, taken) for r in placed):
            break
    else:
        return []
    region = image[y: y + bh, x: x + bw]
    color = _contrasting_color(rng, region[alpha > 0])
    weight = (alpha.astype(np.float32) / 255.0)[:, :, None]
    region[:] = (region * (1 - weight) + color * weight).astype(np.uint8)
    taken.extend(placed)
    return [(r, "###" if ignored else t) for r, t in zip(placed, texts)]


def synth_image(seed: int, index: int, opts: SynthOptions = SynthOptions()) -> tuple[np.ndarray, list]:
    """One image (BGR uint8) and its boxes [(points [P, 2], transcription)]; depends only on (seed, index)."""
    rng = np.random.default_rng([seed, index])
    image = _background(rng, *opts.size)
    taken: list[np.ndarray] = []
    boxes = []
    for _ in range(int(rng.integers(opts.blocks[0], opts.blocks[1] + 1))):
        boxes += _place_block(image, rng, opts, taken, ignored=rng.random() < opts.ignored_fraction)
    return image, boxes


def generate_synthetic(out_dir: Union[str, Path], num_images: int, seed: int, *,
                       size: tuple[int, int] = SynthOptions.size, options: Optional[SynthOptions] = None,
                       label_name: str = "label.txt") -> Path:
    """Write `out_dir/images/<seed>_<i>.jpg` and `out_dir/<label_name>`; returns the label file path.
    Image paths in the label file are relative to `out_dir` (use it as `data_dir`)."""
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    opts = options or SynthOptions(size=tuple(size))
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(num_images):
        image, boxes = synth_image(seed, index, opts)
        rel = f"images/synth_{seed}_{index:06d}.jpg"
        cv2.imwrite(str(out_dir / rel), image, [cv2.IMWRITE_JPEG_QUALITY, opts.jpeg_quality])
        lines.append(format_label_line(rel, [(np.round(p, 2), t) for p, t in boxes]))
    label_path = out_dir / label_name
    label_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return label_path
