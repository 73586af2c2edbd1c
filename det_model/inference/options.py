"""DetectorOptions: how `det-model infer` and `det-model serve` run an exported detector, declared once.

The resize defaults are PaddleOCR's inference ones (tools/infer/utility.py: det_limit_side_len 960,
det_limit_type "max"); the CPU defaults are this project's (2 math threads, oneDNN on). Post-processing
thresholds are no options here: they come from the model folder's inference.yml.
"""

from __future__ import annotations

from dataclasses import dataclass

# DetResizeForTest's limit types, the inference default first (the order `--limit-type` lists them in).
LIMIT_TYPES = ("max", "min", "resize_long")


@dataclass(frozen=True)
class DetectorOptions:
    """Checked when built: a bad value raises ValueError naming the option."""

    limit_side_len: int = 960  # resize target for the side limit_type chooses
    limit_type: str = "max"  # max: long side <= limit; min: short side >= limit; resize_long: long = limit
    cpu_threads: int = 2  # CPU math threads; 0 keeps Paddle's default
    enable_mkldnn: bool = True  # oneDNN kernels on the CPU (plain kernels are about 3.5x slower)
    use_gpu: bool = False  # CUDA device 0; fails unless paddlepaddle-gpu sees a GPU
    slice_long_images: bool = True  # very wide/tall images in overlapping windows (serve resizes whole)

    def __post_init__(self) -> None:
        for name, low in (("limit_side_len", 1), ("cpu_threads", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"DetectorOptions.{name} must be an integer >= {low}, got {value!r}")
        if self.limit_type not in LIMIT_TYPES:
            raise ValueError(
                f"DetectorOptions.limit_type must be one of {LIMIT_TYPES}, got {self.limit_type!r}"
            )
        for name in ("enable_mkldnn", "use_gpu", "slice_long_images"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"DetectorOptions.{name} must be true or false, got {value!r}")
