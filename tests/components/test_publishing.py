"""What a training stage publishes into its Model artifact (components/publishing.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.publishing import PUBLISHED, publish_checkpoints

WRITTEN = [
    "best_accuracy.pdparams", "best_accuracy.pdopt", "best_accuracy.states",
    "latest.pdparams", "latest.pdopt", "latest.states",
    "iter_epoch_10.pdparams", "iter_epoch_10.pdopt", "config.yml", "metrics.jsonl", "train.log",
]  # fmt: skip


def checkpoint_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in WRITTEN:
        (root / name).write_bytes(b"x" * 100)
    return root


@pytest.mark.parametrize("same_folder", [False, True])
def test_only_best_latest_config_and_history_by_default(tmp_path: Path, same_folder: bool) -> None:
    save = checkpoint_folder(tmp_path / "pvc")
    model = save if same_folder else tmp_path / "model"
    names = publish_checkpoints(save, model)
    assert names == sorted(n for n in WRITTEN if n in PUBLISHED)
    assert not any(n.endswith(".pdopt") or n.startswith("iter_epoch") for n in names)
    if not same_folder:
        assert sorted(p.name for p in save.iterdir()) == sorted(
            WRITTEN
        )  # the PVC keeps everything for resuming


def test_everything_when_asked(tmp_path: Path) -> None:
    save = checkpoint_folder(tmp_path / "pvc")
    assert publish_checkpoints(save, tmp_path / "model", everything=True) == sorted(WRITTEN)
