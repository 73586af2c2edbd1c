"""What a training stage puts into its Model artifact (the KFP launcher uploads the whole folder).

By default only what downstream tasks and users need: `best_accuracy` and `latest` weights with their
training state, the resolved config and the metrics history. Per-epoch checkpoints and optimizer state stay
in the checkpoint folder on the PVC (a local default run wrote 2.2 GB into the artifact store before).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PUBLISHED = (
    "best_accuracy.pdparams",
    "best_accuracy.states",
    "latest.pdparams",
    "latest.states",
    "config.yml",
    "config.resolved.yml",
    "metrics.jsonl",
)


def publish_checkpoints(save_dir: Path, model_dir: Path, everything: bool = False) -> list[str]:
    """Fill `model_dir` from `save_dir` (they may be the same folder); returns the names it holds."""
    model_dir.mkdir(parents=True, exist_ok=True)
    same = save_dir.resolve() == model_dir.resolve()
    if everything:
        if not same:
            shutil.copytree(save_dir, model_dir, dirs_exist_ok=True)
        return sorted(p.name for p in model_dir.iterdir())
    for path in sorted(save_dir.iterdir()):
        if path.name in PUBLISHED and not same:
            shutil.copy2(path, model_dir / path.name)
        elif path.name not in PUBLISHED and same:  # trained straight into the artifact: drop the rest
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return sorted(p.name for p in model_dir.iterdir())
