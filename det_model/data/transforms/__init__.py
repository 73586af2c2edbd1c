"""PaddleOCR's detection transforms, one op a file, as plain classes taking PaddleOCR's parameter names.

An op is `op(sample: dict, rng: np.random.Generator) -> dict`; all randomness comes from `rng`. A sample is a
dict with named keys: `image`, `polys` (float32 [K, P, 2]), `texts`, `ignore_tags` (bool [K]),
`threshold_map`, `threshold_mask`, `shrink_map`, `shrink_mask`, `shape`, `img_path`, plus `skips` (box
events). `build_transforms(configs)` maps each config dataclass to its op.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from det_model.config import schema
from det_model.data.transforms.copy_paste import CopyPaste
from det_model.data.transforms.decode_image import DecodeImage
from det_model.data.transforms.det_label_encode import DetLabelEncode
from det_model.data.transforms.det_resize_for_test import DetResizeForTest
from det_model.data.transforms.east_random_crop_data import EastRandomCropData
from det_model.data.transforms.iaa_augment import IaaAugment
from det_model.data.transforms.keep_keys import KeepKeys
from det_model.data.transforms.make_border_map import MakeBorderMap
from det_model.data.transforms.make_shrink_map import MakeShrinkMap
from det_model.data.transforms.normalize_image import NormalizeImage
from det_model.data.transforms.to_chw_image import ToCHWImage
from det_model.data.transforms.warp import materialize_image

Op = Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]

OPS: dict[type, type] = {
    schema.DecodeImageConfig: DecodeImage,
    schema.DetLabelEncodeConfig: DetLabelEncode,
    schema.CopyPasteConfig: CopyPaste,
    schema.IaaAugmentConfig: IaaAugment,
    schema.EastRandomCropDataConfig: EastRandomCropData,
    schema.MakeBorderMapConfig: MakeBorderMap,
    schema.MakeShrinkMapConfig: MakeShrinkMap,
    schema.NormalizeImageConfig: NormalizeImage,
    schema.ToCHWImageConfig: ToCHWImage,
    schema.KeepKeysConfig: KeepKeys,
    schema.DetResizeForTestConfig: DetResizeForTest,
}


class Compose:
    """Run ops in order; a pending warp left at the end is materialized."""

    def __init__(self, ops: Sequence[Op]) -> None:
        self.ops = tuple(ops)

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        for op in self.ops:
            try:
                sample = op(sample, rng)
            except Exception as exc:  # noqa: BLE001 - re-raised with context
                exc.add_note(f"in {type(op).__name__} on {sample.get('img_path', '?')}")
                raise
        if "image" in sample:
            materialize_image(sample)
        return sample

    def prefix(self, count: int) -> "Compose":
        """The first `count` ops (PaddleOCR's ext_op_transform_idx: decode + label encode for CopyPaste)."""
        return Compose(self.ops[:count])

    def __repr__(self) -> str:
        return f"Compose([{', '.join(type(op).__name__ for op in self.ops)}])"


def build_op(config: Any) -> Op:
    op_class = OPS.get(type(config))
    if op_class is None:
        known = sorted(cls.__name__ for cls in OPS)
        raise ValueError(f"no transform for {type(config).__name__}; known: {known}")
    kwargs = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return op_class(**kwargs)


def build_transforms(ops: Sequence[Any]) -> Compose:
    """Build the ops of a `Train`/`Eval` dataset's `transforms` list (TransformConfig dataclasses)."""
    return Compose([build_op(cfg) for cfg in ops])


__all__ = [
    "Compose", "build_op", "build_transforms", "OPS", "CopyPaste", "DecodeImage", "DetLabelEncode",
    "DetResizeForTest", "EastRandomCropData", "IaaAugment", "KeepKeys", "MakeBorderMap", "MakeShrinkMap",
    "NormalizeImage", "ToCHWImage",
]
