"""Transforms: imgaug-equivalent IaaAugment, the fused warp vs step-by-step resampling, crop, normalise,
DetResizeForTest sizes (PaddleOCR's rounding to multiples of 32), CopyPaste, DecodeImage, KeepKeys, build_transforms."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from det_model.config import schema
from det_model.data import skips
from det_model.data.skips import SkipSample
from det_model.data.transforms import (CopyPaste, DecodeImage, DetResizeForTest, EastRandomCropData, IaaAugment,
                                       KeepKeys, NormalizeImage, ToCHWImage, build_transforms)
from det_model.data.transforms.warp import PendingWarp, materialize_image


def _smooth_image(h: int = 120, w: int = 160) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([xs / w * 255, ys / h * 255, (xs + ys) / (w + h) * 255], axis=-1)
    cv2.circle(image, (50, 40), 20, (255, 255, 255), -1)
    return cv2.GaussianBlur(image, (0, 0), 3).astype(np.uint8)


FIXED_AUG = (schema.FliplrConfig(p=1.0), schema.AffineConfig(rotate=(7.0, 7.0)), schema.ResizeConfig(size=(1.7, 1.7)))


def _imgaug_reference(image: np.ndarray, polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip, rotate 7 deg about (W/2 - .5, H/2 - .5) bilinear, resize x1.7 cubic: three resamplings, with
    keypoints moved as imgaug moves them (x -> W - x; same rotation; x * new/old)."""
    h, w = image.shape[:2]
    image = image[:, ::-1].copy()
    polys = polys.copy()
    polys[..., 0] = w - polys[..., 0]
    a = np.radians(7.0)
    cx, cy = w / 2 - 0.5, h / 2 - 0.5
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    matrix = np.hstack([rot, (np.array([cx, cy]) - rot @ [cx, cy])[:, None]])
    image = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    polys = polys @ rot.T + matrix[:, 2]
    new_h, new_w = int(round(h * 1.7)), int(round(w * 1.7))
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    polys = polys * [new_w / w, new_h / h]
    return image, polys.astype(np.float32)


def _sample(image: np.ndarray, polys: list) -> dict:
    return {"image": image, "polys": np.float32(polys), "ignore_tags": np.zeros(len(polys), bool),
            "texts": ["t"] * len(polys)}


BOXES = [[[30, 30], [70, 30], [70, 50], [30, 50]], [[90, 80], [140, 85], [138, 100], [88, 95]]]


def test_iaa_augment_matches_step_by_step_imgaug_semantics() -> None:
    image = _smooth_image()
    out = IaaAugment(FIXED_AUG)(_sample(image, BOXES), np.random.default_rng(0))
    assert isinstance(out["image"], PendingWarp)  # nothing resampled yet
    fused = materialize_image(out)
    reference, ref_polys = _imgaug_reference(image, np.float32(BOXES))
    assert fused.shape == reference.shape == (204, 272, 3)
    np.testing.assert_allclose(out["polys"], ref_polys, atol=1e-3)
    inner = (slice(20, -20), slice(20, -20))  # borders differ only by interpolation of the cut corners
    assert np.abs(fused[inner].astype(int) - reference[inner].astype(int)).mean() < 2.0


def test_iaa_augment_accepts_paddleocr_dicts_and_rejects_unknown() -> None:
    aug = IaaAugment([{"type": "Fliplr", "args": {"p": 0.5}}, {"type": "Affine", "args": {"rotate": [-10, 10]}},
                      {"type": "Resize", "args": {"size": [0.5, 3]}}])
    assert aug.augmenters == (schema.FliplrConfig(), schema.AffineConfig(), schema.ResizeConfig())
    with pytest.raises(ValueError, match="unknown augmenter 'Crop'.*Affine"):
        IaaAugment([{"type": "Crop", "args": {}}])


@pytest.mark.parametrize("seed", range(6))
def test_points_follow_pixels_through_augment_and_crop(seed: int) -> None:
    # A bright dot inside a small box must stay inside the moved box after the fused warp.
    image = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(image, (250, 120), 3, (255, 255, 255), -1)
    box = [[240, 110], [260, 110], [260, 130], [240, 130]]
    sample = _sample(image, [box])
    rng = np.random.default_rng(seed)
    sample = IaaAugment()(sample, rng)
    sample = EastRandomCropData(size=(256, 256), max_tries=50)(sample, rng)
    out = sample["image"]
    assert out.shape == (256, 256, 3) and len(sample["polys"]) == 1
    ys, xs = np.nonzero(out[..., 0] > 128)
    centre = np.array([xs.mean(), ys.mean()])
    np.testing.assert_allclose(centre, sample["polys"][0].mean(axis=0), atol=2.0)


def test_fused_crop_equals_materialised_crop() -> None:
    image = _smooth_image(240, 320)
    aug = IaaAugment((schema.FliplrConfig(p=0.0), schema.AffineConfig(rotate=(0, 0)),
                      schema.ResizeConfig(size=(2.0, 2.0))))
    crop = EastRandomCropData(size=(200, 200), max_tries=50)
    fused = crop(aug(_sample(image, BOXES), np.random.default_rng(1)), np.random.default_rng(5))
    stepwise = aug(_sample(image, BOXES), np.random.default_rng(1))
    materialize_image(stepwise)
    stepwise = crop(stepwise, np.random.default_rng(5))
    np.testing.assert_allclose(fused["polys"], stepwise["polys"], atol=1e-4)
    assert np.abs(fused["image"].astype(int) - stepwise["image"].astype(int)).mean() < 2.0


def test_random_crop_keeps_care_text_and_pads_to_size() -> None:
    image = _smooth_image(100, 400)
    out = EastRandomCropData(size=(960, 960), max_tries=50)(_sample(image, BOXES), np.random.default_rng(0))
    assert out["image"].shape == (960, 960, 3) and len(out["polys"]) >= 1
    scale = out["polys"][0, 1, 0] - out["polys"][0, 0, 0]
    assert scale > 40  # upscaled (keep_ratio: one factor for both axes)
    # keep_ratio: the resized crop fills one side; zero padding follows on the other (bottom or right).
    assert out["image"][-1].max() == 0 or out["image"][:, -1].max() == 0


def test_normalize_lut_is_bit_identical_to_formula() -> None:
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    op = NormalizeImage(scale="1./255.")
    fast = op({"image": image}, np.random.default_rng(0))["image"]
    mean, std = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
    expected = (image.astype(np.float32) * np.float32(1 / 255) - mean) / std
    assert fast.dtype == np.float32 and np.array_equal(fast, expected)
    assert fast[0, 0, 0] == pytest.approx((image[0, 0, 0] / 255 - 0.485) / 0.229, rel=1e-5)  # B uses R's stats


RESIZE_CASES = [
    # (src h, w), eval default (736, min), inference (960, max): PaddleOCR's DetResizeForTest defaults
    ((720, 1280), (736, 1312), (544, 960)),
    ((1080, 1920), (1088, 1920), (544, 960)),
    ((3648, 5472), (3648, 5472), (640, 960)),  # "min" never downscales
    ((600, 800), (736, 992), (608, 800)),
    ((528, 528), (736, 736), (512, 512)),  # 16.5 rounds half-to-even to 16
    ((100, 3000), (736, 22080), (32, 960)),
]


@pytest.mark.parametrize("src,eval_size,infer_size", RESIZE_CASES)
def test_det_resize_for_test_sizes(src: tuple, eval_size: tuple, infer_size: tuple) -> None:
    assert DetResizeForTest().output_size(*src) == eval_size
    assert DetResizeForTest(limit_side_len=960, limit_type="max").output_size(*src) == infer_size


def test_det_resize_shape_ratios_and_small_image_padding() -> None:
    out = DetResizeForTest()({"image": np.zeros((720, 1280, 3), np.uint8)}, np.random.default_rng(0))
    assert out["image"].shape == (736, 1312, 3)
    np.testing.assert_allclose(out["shape"], [720, 1280, 736 / 720, 1312 / 1280])
    # h + w < 64: zero-padded to 32 x 32 first; ratios are relative to the padded size, shape keeps the source.
    out = DetResizeForTest(limit_side_len=960, limit_type="max")(
        {"image": np.full((10, 20, 3), 9, np.uint8)}, np.random.default_rng(0))
    assert out["image"].shape == (32, 32, 3) and out["image"][20, 20, 0] == 0
    np.testing.assert_allclose(out["shape"], [10, 20, 1.0, 1.0])


@pytest.mark.parametrize("kwargs,src,expected", [
    ({"image_shape": (640, 640)}, (720, 1280), (640, 640)),  # fixed size
    ({"image_shape": (640, 640), "keep_ratio": True}, (720, 1280), (640, 1152)),  # width ceil to 32
    ({"resize_long": 960}, (720, 1280), (640, 1024)),  # type 2: multiples of 128
    ({"limit_side_len": 736, "limit_type": "resize_long"}, (720, 1280), (416, 736)),
])
def test_det_resize_other_modes(kwargs: dict, src: tuple, expected: tuple) -> None:
    assert DetResizeForTest(**kwargs).output_size(*src) == expected


def test_det_resize_rejects_unknown_limit_type() -> None:
    with pytest.raises(ValueError, match="limit_type"):
        DetResizeForTest(limit_type="mean")


def test_copy_paste_adds_non_overlapping_boxes() -> None:
    rng = np.random.default_rng(0)
    ext_image = _smooth_image(200, 300)
    ext_boxes = [[[10 + 60 * i, 20], [60 + 60 * i, 20], [60 + 60 * i, 40], [10 + 60 * i, 40]] for i in range(4)]
    ext = _sample(ext_image, ext_boxes)
    src = _sample(np.zeros((400, 400, 3), np.uint8), [[[0, 0], [30, 0], [30, 20], [0, 20]]])
    src["ext_data"] = [ext]
    out = CopyPaste(objects_paste_ratio=1.0)(src, rng)
    assert len(out["polys"]) > 1 and len(out["texts"]) == len(out["polys"]) == len(out["ignore_tags"])
    assert out["image"].max() > 0  # something was pasted onto the black image
    first = out["polys"][0]
    for pasted in out["polys"][1:]:  # limit_paste: pasted boxes avoid the existing box
        assert pasted[:, 0].min() > first[:, 0].max() or pasted[:, 1].min() > first[:, 1].max()
    assert "ext_data" not in out


def test_copy_paste_without_ext_data_is_a_no_op() -> None:
    src = _sample(np.zeros((40, 40, 3), np.uint8), BOXES[:1])
    out = CopyPaste()(dict(src), np.random.default_rng(0))
    assert len(out["polys"]) == 1


@pytest.mark.parametrize("payload", [
    b"",  # empty file
    b"not an image at all",  # garbage
    cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()[:40],  # truncated JPEG
])
def test_decode_image_rejects_corrupt_bytes(payload: bytes) -> None:
    with pytest.raises(SkipSample) as info:
        DecodeImage()({"image": payload, "img_path": "x.jpg"}, np.random.default_rng(0))
    assert info.value.reason == skips.CORRUPT_IMAGE and "x.jpg" in info.value.message


def test_decode_image_modes() -> None:
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 200  # blue in BGR
    data = cv2.imencode(".png", image)[1].tobytes()
    assert DecodeImage()({"image": data}, None)["image"][0, 0].tolist() == [200, 0, 0]
    assert DecodeImage(img_mode="RGB")({"image": data}, None)["image"][0, 0].tolist() == [0, 0, 200]
    assert DecodeImage(channel_first=True)({"image": data}, None)["image"].shape == (3, 4, 5)


def test_keep_keys_returns_named_fields_and_names_missing() -> None:
    sample = {"image": np.zeros((2, 2, 3)), "shape": np.zeros(4), "polys": np.zeros((0, 4, 2))}
    kept = KeepKeys(keep_keys=("image", "shape"))(dict(sample), None)
    assert list(kept) == ["image", "shape"]
    with pytest.raises(KeyError, match="threshold_map"):
        KeepKeys(keep_keys=("threshold_map",))(dict(sample), None)


def test_build_transforms_maps_configs_and_rejects_unknown() -> None:
    compose = build_transforms((schema.DecodeImageConfig(), schema.ToCHWImageConfig()))
    assert [type(op) for op in compose.ops] == [DecodeImage, ToCHWImage]
    with pytest.raises(ValueError, match="no transform for GlobalConfig; known: .*DecodeImage"):
        build_transforms((schema.GlobalConfig(),))
