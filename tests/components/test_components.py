"""Component bodies through `component.python_func` with tmp_path artifacts (heavy det_model calls faked)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from kfp.dsl import HTML, Artifact, Dataset, Metrics, Model
from support.kfp_helpers import paddleocr_tar, tiny_paddleocr_files

from components import overrides, summary, training
from components.settings import TrainSettings
from components.evaluate import evaluate
from det_model.program_eval import program_forward
from components.fetch_hiertext import fetch_hiertext
from components.train_dml_teacher import train_dml_teacher
from det_model.config import config_path, load_config


def artifact(cls: type, path: Path):
    return cls(uri=str(path))


def settings(data_dir: str, **kw: object) -> TrainSettings:
    base = dict(
        config_name="ch_PP-OCRv3_det_dml.yml",
        dataset_dir=data_dir,
        epochs=2,
        batch_size=2,
        learning_rate=0.01,
        image_size=64,
        eval_side_len=96,
        eval_interval=5,
        num_workers=0,
        gpus=0,
        use_amp=False,
    )
    return TrainSettings(**(base | kw))


def test_fetch_component_writes_dataset_and_counts(tmp_path: Path) -> None:
    archive = tmp_path / "seed.tar.gz"
    archive.write_bytes(paddleocr_tar(tiny_paddleocr_files(4, 2)))
    dataset = artifact(Dataset, tmp_path / "out" / "dataset")
    fetch_hiertext.python_func(data_uri=archive.as_uri(), dataset=dataset, data_version="v1")
    assert (dataset.metadata["train_images"], dataset.metadata["eval_images"]) == (4, 2)
    assert dataset.metadata["data_version"] == "v1"
    assert (Path(dataset.path) / "label_train.txt").exists()


@pytest.mark.parametrize("config_name", ["ch_PP-OCRv3_det_dml.yml", "ch_PP-OCRv3_det_cml.yml"])
def test_overrides_are_accepted_by_the_loader(config_name: str, tmp_path: Path) -> None:
    pretrained = {"Student": "/w/r50", "Student2": "/w/r50"}
    if config_name.endswith("cml.yml"):
        pretrained["Teacher"] = "/w/dml_teacher"
    s = settings("/data/ds", config_name=config_name, pretrained=pretrained, overrides=["Global.seed=7"])
    recipe = load_config(config_path(config_name))
    cfg = load_config(config_path(config_name), overrides.training_overrides(s, recipe, tmp_path / "ck"))
    crop = next(t for t in cfg.Train.dataset.transforms if type(t).__name__ == "EastRandomCropDataConfig")
    resize = next(t for t in cfg.Eval.dataset.transforms if type(t).__name__ == "DetResizeForTestConfig")
    assert tuple(crop.size) == (64, 64) and resize.limit_side_len == 96
    assert cfg.Train.dataset.label_file_list == ("/data/ds/label_train.txt",)
    assert cfg.Eval.dataset.label_file_list == ("/data/ds/label_eval.txt",)
    assert cfg.Global.epoch_num == 2 and cfg.Global.seed == 7 and cfg.Global.use_gpu is False
    assert tuple(cfg.Global.eval_batch_step) == (0, 5) and cfg.Global.checkpoints is None
    assert {n: m.pretrained for n, m in cfg.Architecture.Models.items()} == pretrained


def test_a_retried_step_resumes_from_latest(tmp_path: Path) -> None:
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "latest.pdparams").write_bytes(b"")
    recipe = load_config(config_path("ch_PP-OCRv3_det_dml.yml"))
    out = overrides.training_overrides(settings("/d"), recipe, tmp_path / "ck")
    assert f"Global.checkpoints={json.dumps(str(tmp_path / 'ck' / 'latest'))}" in out


def test_summary_of_a_metrics_log(tmp_path: Path) -> None:
    rows = [
        {"type": "train", "epoch": 1, "global_step": 5, "loss": 2.0},
        {"type": "eval", "epoch": 1, "global_step": 5, "hmean": 0.2, "precision": 0.3},
        {"type": "eval", "epoch": 2, "global_step": 10, "hmean": 0.4, "precision": 0.5},
        {"type": "eval", "epoch": 3, "global_step": 15, "hmean": 0.1, "precision": 0.9},
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    result = summary.summarise_metrics_log(tmp_path / "metrics.jsonl")
    assert result == {"best_hmean": 0.4, "best_precision": 0.5, "epochs": 3.0, "steps": 15.0}


def test_teacher_component_trains_writes_config_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}

    def fake_train(cfg, evaluate):
        seen["cfg"] = cfg
        save = Path(cfg.Global.save_model_dir)
        (save / "best_accuracy.pdparams").write_bytes(b"w")
        return SimpleNamespace(
            save_model_dir=save, best_metrics={"hmean": 0.5, "recall": 0.25}, epochs=2, global_step=10
        )

    monkeypatch.setattr("det_model.training.train", fake_train)
    model, metrics = artifact(Model, tmp_path / "model"), artifact(Metrics, tmp_path / "metrics")
    config = artifact(Artifact, tmp_path / "resolved_config")
    train_dml_teacher.python_func(
        dataset=artifact(Dataset, tmp_path / "ds"),
        model=model,
        metrics=metrics,
        resolved_config=config,
        config_name="ch_PP-OCRv3_det_dml.yml",
        epochs=2,
        batch_size=2,
        learning_rate=0.001,
        image_size=64,
        eval_side_len=64,
        eval_interval=5,
        num_workers=0,
        gpus=0,
        use_amp=False,
        pretrained_uri="",
        overrides=["Global.seed=3"],
        num_nodes=1,
        checkpoint_root="",
        cache_pvc="c",
        run_id="r",
        image="i",
    )
    assert metrics.metadata == {"best_hmean": 0.5, "best_recall": 0.25, "epochs": 2.0, "steps": 10.0}
    assert Path(seen["cfg"].Global.save_model_dir) == Path(model.path)
    assert load_config(config.path).Global.seed == 3  # the resolved config re-loads as it was trained


def test_training_on_a_persistent_root_is_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_train(cfg, evaluate):
        (Path(cfg.Global.save_model_dir) / "latest.pdparams").write_bytes(b"w")
        return SimpleNamespace(best_metrics={}, epochs=1, global_step=1)

    monkeypatch.setattr("det_model.training.train", fake_train)
    model = tmp_path / "model"
    training.train_stage(
        settings("/d"),
        str(model),
        str(tmp_path / "cfg.yml"),
        stage="dml-teacher",
        run_id="run-1",
        checkpoint_root=str(tmp_path / "pvc"),
    )
    assert (tmp_path / "pvc" / "run-1" / "dml-teacher" / "latest.pdparams").exists()
    assert (model / "latest.pdparams").exists()


def test_multinode_needs_the_shared_pvc(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_nodes > 1 needs checkpoint_root under /cache"):
        training.train_stage(
            settings("/d"),
            str(tmp_path / "m"),
            str(tmp_path / "c.yml"),
            stage="s",
            run_id="r",
            checkpoint_root=str(tmp_path / "local"),
            num_nodes=2,
            pvc_name="ppocrv3-cache",
        )


def test_evaluate_component_logs_metrics_and_writes_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2
    import numpy as np

    dataset = tmp_path / "ds"
    (dataset / "images").mkdir(parents=True)
    cv2.imwrite(str(dataset / "images" / "a.jpg"), np.full((32, 48, 3), 255, np.uint8))
    (dataset / "label_eval.txt").write_text(
        'images/a.jpg\t[{"transcription": "x", "points": [[1,1],[9,1],[9,5],[1,5]]}]\n'
    )
    (dataset / "label_train.txt").write_text((dataset / "label_eval.txt").read_text())
    config = tmp_path / "config.yml"
    from det_model.config import dump_config

    dump_config(load_config(config_path("ch_PP-OCRv3_det_cml.yml")), config)

    def fake_eval(cfg, out_dir, build):
        assert build is program_forward  # the evaluate task runs the inference program
        assert cfg.Global.checkpoints.endswith("model/best_accuracy")
        assert all(m.pretrained is None for m in cfg.Architecture.Models.values())
        Path(out_dir, "predictions.jsonl").write_text(
            json.dumps({"image": "images/a.jpg", "polygons": [[[2, 2], [8, 2], [8, 4], [2, 4]]]})
        )
        return {"precision": 1.0, "recall": 0.5, "hmean": 2 / 3, "images": 1}

    monkeypatch.setattr("det_model.evaluation.evaluate_checkpoint", fake_eval)
    metrics, report = artifact(Metrics, tmp_path / "metrics"), artifact(HTML, tmp_path / "report")
    evaluate.python_func(
        dataset=artifact(Dataset, dataset),
        model=artifact(Model, tmp_path / "model"),
        config=artifact(Artifact, config),
        metrics=metrics,
        report=report,
        overrides=[],
        run_id="r-1",
        results_uri=(tmp_path / "results").as_uri(),
    )
    assert metrics.metadata["hmean"] == pytest.approx(2 / 3) and metrics.metadata["images"] == 1.0
    html = Path(report.path).read_text()
    assert "data:image/png;base64," in html and "No per-image predictions" not in html
    assert json.loads((tmp_path / "results" / "r-1" / "metrics.json").read_text())["recall"] == 0.5
