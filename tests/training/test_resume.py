"""Resuming from best_accuracy (row 4 of issue 16): the steps of an uninterrupted run, no epoch repeated."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from det_model.config import config_path, load_config
from det_model.evaluation import evaluator
from det_model.modeling.weights import load_params_file
from det_model.training import train
from support.training_fixtures import tiny_overrides


def _train(tiny_data, save_dir: Path, *extra: str, epochs: int):
    data_dir, label = tiny_data
    overrides = tiny_overrides(data_dir, label, save_dir, recipe="student", epochs=epochs) + list(extra)
    cfg = load_config(config_path("ch_PP-OCRv3_det_student.yml"), overrides)
    return train(cfg, evaluate=evaluator(cfg))


def test_best_accuracy_at_an_epoch_end_resumes_with_the_next_epoch(tiny_data, tmp_path: Path) -> None:
    """2 steps an epoch, evaluated at every epoch end: best_accuracy of epoch 2 resumes at step 4 and trains
    the 2 steps of epoch 3 only (it used to store epoch 1 and train epochs 2 and 3 again: 8 steps)."""
    _train(tiny_data, tmp_path / "a", epochs=2)
    states = pickle.loads((tmp_path / "a" / "best_accuracy.states").read_bytes())
    assert (states["epoch"], states["epoch_step"], states["global_step"]) == (2, 0, 4)
    resumed = _train(tiny_data, tmp_path / "b", f"Global.checkpoints={tmp_path / 'a' / 'best_accuracy'}", epochs=3)
    assert resumed.global_step == 6 and resumed.epochs == 3


def test_best_accuracy_written_mid_epoch_resumes_mid_epoch_bit_exact(tiny_data, tmp_path: Path) -> None:
    """Evaluated at step 3 of 4 (mid epoch 2): resuming from that best_accuracy trains step 4 only and ends
    with the weights of the uninterrupted run."""
    straight = _train(tiny_data, tmp_path / "a", "Global.eval_batch_step=[0, 3]", epochs=2)
    assert straight.global_step == 4
    states = pickle.loads((tmp_path / "a" / "best_accuracy.states").read_bytes())
    assert (states["epoch"], states["epoch_step"], states["global_step"]) == (1, 1, 3)
    resumed = _train(tiny_data, tmp_path / "b", "Global.eval_batch_step=[0, 3]",
                     f"Global.checkpoints={tmp_path / 'a' / 'best_accuracy'}", epochs=2)
    assert resumed.global_step == 4
    a, b = load_params_file(tmp_path / "a" / "latest.pdparams"), load_params_file(tmp_path / "b" / "latest.pdparams")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
