"""Device choice and data-parallel set-up (one process per device, `paddle.distributed.launch`)."""

from __future__ import annotations

from dataclasses import dataclass

import paddle.distributed as dist

from det_model.config import schema
from det_model.device import has_gpu, select_device


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
    device = select_device(g.use_gpu, dist.ParallelEnv().dev_id if has_gpu() else 0, warn=rank == 0)
    if world_size > 1:
        dist.init_parallel_env()
    return DistributedEnv(world_size=world_size, rank=rank, device=device)
