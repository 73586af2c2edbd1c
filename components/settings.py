"""What a pipeline user tunes for one training stage (the component parameters, grouped and named)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

CACHE_MOUNT = "/cache"  # where the pipeline mounts the cache PVC (training steps and PaddleJob workers alike)


@dataclass(frozen=True)
class TrainSettings:
    """Built by keyword in the training components (several ints side by side: order must not matter)."""

    config_name: str
    dataset_dir: str
    epochs: int
    batch_size: int
    learning_rate: float
    image_size: int
    eval_side_len: int
    eval_interval: int
    num_workers: int
    gpus: int
    use_amp: bool
    overrides: Sequence[str] = ()
    pretrained: dict[str, str] = field(default_factory=dict)  # sub-model name -> weights path prefix

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **given: Any) -> "TrainSettings":
        """Every field by its name: from `given`, else from the component parameter of the same name."""
        return cls(**{f.name: given[f.name] if f.name in given else params[f.name] for f in fields(cls)
                      if f.name in given or f.name in params})
