"""Checkpoint writing and naming under bad conditions (rows 5 and 9 of issue 16)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import paddle
import pytest

from det_model.training import checkpoint
from det_model.training.checkpoint import TrainState, load_checkpoint_params, save_checkpoint


def _model_and_optimizer():
    model = paddle.nn.Linear(3, 2)
    return model, paddle.optimizer.Adam(parameters=model.parameters())


def test_disk_full_removes_the_temporaries_and_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    model, optimizer = _model_and_optimizer()
    save_checkpoint(tmp_path, "latest", model, optimizer, TrainState(epoch=1))
    before = (tmp_path / "latest.pdparams").read_bytes()
    real_save = paddle.save

    def full_disk(obj, path, *args, **kwargs):
        if str(path).endswith(".pdopt.tmp"):  # .pdparams.tmp was written, then the disk fills up
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.paddle, "save", full_disk)
    with pytest.raises(OSError, match=r"cannot write checkpoint .*latest\.\* \(No space left on device\); the "
                                      r"previous latest is kept .*Global\.save_model_dir") as raised:
        save_checkpoint(tmp_path, "latest", model, optimizer, TrainState(epoch=2))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path)
    assert not list(tmp_path.glob(".latest.*.tmp"))
    assert (tmp_path / "latest.pdparams").read_bytes() == before


def test_a_folder_as_checkpoint_says_which_file_is_loaded(tmp_path: Path, caplog) -> None:
    model, optimizer = _model_and_optimizer()
    save_checkpoint(tmp_path, "latest", model, optimizer, TrainState())
    with caplog.at_level(logging.WARNING):
        source = load_checkpoint_params(tmp_path, model)
    assert source == tmp_path / "latest.pdparams"
    assert f"Global.checkpoints={tmp_path} is a folder: loading {tmp_path / 'latest'}" in caplog.text
    assert str(tmp_path / "best_accuracy") in caplog.text
