"""Device choice and data-parallel set-up (one process per device, `paddle.distributed.launch`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import paddle
import paddle.distributed as dist

from det_model.config import schema

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedEnv:
    world_size: int = 1
    rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_device(g: schema.GlobalConfig) -> DistributedEnv:
    """Pick gpu:<local id> when asked and available (else CPU, with a warning) and join the process group."""
    world_size = dist.get_world_size()
    rank = dist.get_rank()
    if g.use_gpu and paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        device = f"gpu:{dist.ParallelEnv().dev_id}"
    else:
        if g.use_gpu and rank == 0:
            logger.warning("Global.use_gpu is true but no CUDA device is available: training on CPU")
        device = "cpu"
    paddle.set_device(device)
    if world_size > 1:
        dist.init_parallel_env()
    return DistributedEnv(world_size=world_size, rank=rank, device=device)
