"""Where the network runs: whether a CUDA device exists, and picking it (or the CPU, with a warning)."""

from __future__ import annotations

import logging

import paddle

logger = logging.getLogger(__name__)


def has_gpu() -> bool:
    """True when Paddle is built with CUDA and sees at least one device."""
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def select_device(use_gpu: bool, gpu_id: int = 0, *, warn: bool = True) -> str:
    """Set and return gpu:<gpu_id> when `use_gpu` and a GPU exists, else cpu (warning when a GPU was asked for)."""
    if use_gpu and has_gpu():
        device = f"gpu:{gpu_id}"
    else:
        if use_gpu and warn:
            logger.warning("Global.use_gpu is true but no CUDA device is available: running on CPU")
        device = "cpu"
    paddle.set_device(device)
    return device
