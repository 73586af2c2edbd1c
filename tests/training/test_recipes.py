"""A few steps of each recipe on tiny images: the files PaddleOCR users expect, resume, freeze, divergence."""

from __future__ import annotations

import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

from det_model.config import config_path, load_config
from det_model.evaluation import evaluator
from det_model.modeling.weights import load_params_file
from det_model.training import TrainingDivergedError, extract_params, train
from support.training_fixtures import tiny_overrides

CHECKPOINT_FILES = {f"{p}.{s}" for p in ("best_accuracy", "latest") for s in ("pdparams", "pdopt", "states")}


def _train(recipe: str, tiny_data, save_dir: Path, *extra: str, epochs: int = 1):
    data_dir, label = tiny_data
    overrides = tiny_overrides(data_dir, label, save_dir, recipe=recipe, epochs=epochs) + list(extra)
    cfg = load_config(config_path(f"ch_PP-OCRv3_det_{recipe}.yml"), overrides)
    return train(cfg, evaluate=evaluator(cfg))


def test_student_recipe_writes_paddleocr_layout(tiny_data, tmp_path: Path) -> None:
    result = _train("student", tiny_data, tmp_path / "out", epochs=2)
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert CHECKPOINT_FILES | {"config.yml", "train.log", "metrics.jsonl"} <= files
    with open(tmp_path / "out" / "latest.states", "rb") as handle:
        states = pickle.load(handle)
    assert {"best_model_dict", "epoch", "global_step"} <= set(states)  # PaddleOCR's keys, plus our resume keys
    assert states["epoch"] == 2 and states["global_step"] == result.global_step == 4 and states["epoch_step"] == 0
    assert "hmean" in result.best_metrics
    assert load_config(tmp_path / "out" / "config.yml").Global.epoch_num == 2


def test_dml_then_extract_then_cml_keeps_the_teacher_fixed(tiny_data, tmp_path: Path) -> None:
    _train("dml", tiny_data, tmp_path / "dml")
    teacher_file = extract_params(tmp_path / "dml" / "latest.pdparams", tmp_path / "dml_teacher", "Student")
    teacher_before = load_params_file(teacher_file)
    assert any(k.startswith("backbone.conv1_1") for k in teacher_before)
    _train("cml", tiny_data, tmp_path / "cml", f"Architecture.Models.Teacher.pretrained={tmp_path / 'dml_teacher'}",
           "Global.save_epoch_step=1", epochs=2)
    after = load_params_file(tmp_path / "cml" / "latest.pdparams")
    assert {k.split(".")[0] for k in after} == {"Student", "Student2", "Teacher"}
    for key, value in teacher_before.items():  # weights and BatchNorm running statistics
        np.testing.assert_array_equal(after[f"Teacher.{key}"], value, err_msg=key)
    after_epoch_1 = load_params_file(tmp_path / "cml" / "iter_epoch_1.pdparams")
    assert any(not np.array_equal(after[k], after_epoch_1[k]) for k in after if k.startswith("Student."))


def test_resume_in_process_restores_step_optimizer_and_schedule(tiny_data, tmp_path: Path) -> None:
    """Several models built in one process get different internal parameter names; resume must not care."""
    _train("student", tiny_data, tmp_path / "straight", epochs=2)
    _train("student", tiny_data, tmp_path / "a", epochs=1)
    result = _train("student", tiny_data, tmp_path / "a", f"Global.checkpoints={tmp_path / 'a' / 'latest'}", epochs=2)
    assert result.epochs == 2 and result.global_step == 4  # PaddleOCR would restart global_step at 0
    straight, resumed = _weights(tmp_path / "straight" / "latest.pdparams"), _weights(tmp_path / "a" / "latest.pdparams")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)


def test_two_process_data_parallel_writes_one_set_of_checkpoints(tiny_data, tmp_path: Path) -> None:
    data_dir, label = tiny_data
    overrides = tiny_overrides(data_dir, label, tmp_path / "dp", recipe="student", epochs=1)
    run = subprocess.run(
        [sys.executable, "-m", "det_model", "train", "--nproc", "2", "--launch-log-dir", str(tmp_path / "log"),
         "-c", "ch_PP-OCRv3_det_student.yml", "-o", *overrides],
        capture_output=True, text=True, timeout=300,
    )
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "log").glob("*")) if (tmp_path / "log").exists() else ""
    assert run.returncode == 0, (run.stderr + logs)[-3000:]
    states = pickle.loads((tmp_path / "dp" / "latest.states").read_bytes())
    # 4 images, batch 2 per card, 2 cards: one step per epoch on each rank
    assert states["global_step"] == 1
    assert sorted(p.name for p in (tmp_path / "dp").glob("latest.*")) == ["latest.pdopt", "latest.pdparams", "latest.states"]
    assert "world size 2, rank 0" in logs and "world size 2, rank 1" in logs
    share = r"rank (\d) of 2 trains on 2 of 4 samples an epoch; epoch 1 starts with (.+)"
    shares = dict(re.findall(share, logs))
    assert sorted(shares) == ["0", "1"] and shares["0"] != shares["1"]  # each rank its own batch


def test_non_finite_loss_stops_with_the_step_and_keeps_latest(tiny_data, tmp_path: Path, monkeypatch) -> None:
    from det_model.training import loop

    _train("student", tiny_data, tmp_path / "nan", epochs=1)
    good = load_params_file(tmp_path / "nan" / "latest.pdparams")
    original = loop.Trainer.train_step

    def poisoned(self, batch):
        losses = original(self, batch)
        return {**losses, "loss": losses["loss"] * float("nan")}

    monkeypatch.setattr(loop.Trainer, "train_step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"not finite at epoch 2, global step 3 \(loss=nan"):
        _train("student", tiny_data, tmp_path / "nan", f"Global.checkpoints={tmp_path / 'nan' / 'latest'}", epochs=2)
    kept = load_params_file(tmp_path / "nan" / "latest.pdparams")
    assert all(np.array_equal(kept[k], good[k]) for k in good)


def test_extract_params_lists_prefixes_when_absent(tmp_path: Path) -> None:
    paddle.save({"Student.a": paddle.ones([1]), "Teacher.b": paddle.ones([1])}, str(tmp_path / "d.pdparams"))
    with pytest.raises(ValueError, match="Student2.*Student.*Teacher|Student.*Teacher"):
        extract_params(tmp_path / "d.pdparams", tmp_path / "x", "Student2")


def _weights(path: Path) -> dict[str, np.ndarray]:
    return load_params_file(path)


def test_kill_9_then_resume_equals_an_uninterrupted_run(tiny_data, tmp_path: Path) -> None:
    """A real SIGKILL mid-training; resuming from `latest` ends with the same weights as a straight run."""
    data_dir, label = tiny_data
    common = tiny_overrides(data_dir, label, tmp_path / "x", recipe="student", epochs=4)
    common = [o for o in common if not o.startswith("Global.save_model_dir")] + ["Global.eval_batch_step=[0, 0]"]

    def command(save_dir: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "det_model", "train", "-c", "ch_PP-OCRv3_det_student.yml", "-o", *common,
                f"Global.save_model_dir={save_dir}", *extra]

    straight = subprocess.run(command(tmp_path / "straight"), capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]

    victim = subprocess.Popen(command(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    states = tmp_path / "killed" / "latest.states"
    deadline = time.time() + 240
    while time.time() < deadline and victim.poll() is None:
        if _logged_past_checkpoint(tmp_path / "killed", min_epoch=2):
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    epoch_at_kill = pickle.loads(states.read_bytes())["epoch"]
    assert 2 <= epoch_at_kill < 4, "the run must be killed before it finished"
    resumed = subprocess.run(command(tmp_path / "killed", f"Global.checkpoints={tmp_path / 'killed' / 'latest'}"),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = _weights(tmp_path / "straight" / "latest.pdparams"), _weights(tmp_path / "killed" / "latest.pdparams")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # The history after the resume is the history of one uninterrupted run (row 4 of issue 16).
    assert history(tmp_path / "killed") == history(tmp_path / "straight")


def _logged_past_checkpoint(save_dir: Path, min_epoch: int) -> bool:
    """latest is at epoch >= min_epoch and metrics.jsonl already holds a step after it (replayed on resume)."""
    import json

    try:
        states = pickle.loads((save_dir / "latest.states").read_bytes())
        lines = (save_dir / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(line)["global_step"] for line in lines if line.endswith("}")]
    except (OSError, EOFError, pickle.UnpicklingError, ValueError):
        return False
    return states["epoch"] >= min_epoch and max(steps, default=0) > states["global_step"]


def history(save_dir: Path) -> tuple[list[dict], list[str]]:
    """metrics.jsonl records and train.log messages without the values that differ between two runs."""
    import json
    import re

    volatile = ("elapsed_s", "ips", "fps")
    records = [{k: v for k, v in json.loads(line).items() if k not in volatile}
               for line in (save_dir / "metrics.jsonl").read_text().splitlines()]
    lines = [re.sub(r"(ips|fps): [\d.]+", r"\1", line.split("] ", 1)[-1])
             for line in (save_dir / "train.log").read_text().splitlines()]
    return records, lines


@pytest.mark.parametrize("level", ["O1", "O2"])
def test_amp_bfloat16_wiring_trains_and_checkpoints_load(tiny_data, tmp_path: Path, level: str) -> None:
    """Global.use_amp with PaddleOCR's cml.yml dtype (bfloat16): autocast, loss scaling and O2 decoration run
    and the checkpoint loads into a float32 model. (On CPU Paddle keeps most kernels in float32, so this covers
    the wiring; the reduced-precision numerics are exercised on GPU.)"""
    from det_model.modeling import build_model
    from det_model.modeling.weights import load_weights

    result = _train("student", tiny_data, tmp_path / level, "Global.use_amp=true", "Global.amp_dtype=bfloat16",
                    f"Global.amp_level={level}")
    assert result.global_step == 2
    model = build_model(load_config(config_path("ch_PP-OCRv3_det_student.yml")).Architecture)
    report = load_weights(model, tmp_path / level / "latest.pdparams")
    assert not report.missing and not report.shape_mismatched


@pytest.mark.parametrize("device, world_size, cores, hinted", [
    ("cpu", 1, 2, True), ("cpu", 1, 1, False), ("cpu", 2, 2, False), ("gpu:0", 1, 8, False),
])
def test_single_cpu_process_is_told_about_idle_cores(
    device: str, world_size: int, cores: int, hinted: bool
) -> None:
    from det_model.training.distributed import DistributedEnv
    from det_model.training.loop import idle_cores_hint

    hint = idle_cores_hint(DistributedEnv(world_size=world_size, rank=0, device=device), cores)
    assert (hint is not None) == hinted
    if hinted:
        assert f"--nproc {cores}" in hint
