"""Running one training stage: save folder, one process / N GPUs / N nodes (PaddleJob), publishing.

Component functions are serialised into the compiled spec by source, so what they share lives in the
`components` package (no kfp import here) that the image installs next to det_model.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from components.overrides import training_overrides
from components.settings import CACHE_MOUNT, TrainSettings
from components.summary import record_training, summarise, summarise_metrics_log
from det_model.config import DetConfig, config_path, dump_config, read_config
from det_model.training.history import METRICS_LOG

log = logging.getLogger(__name__)


def save_dir_for(model_path: str, checkpoint_root: str, run_id: str, stage: str) -> Path:
    """Where training writes: a persistent folder (a PVC) when given, so retried pods find `latest`."""
    if checkpoint_root:
        return Path(checkpoint_root) / run_id / stage
    return Path(model_path)


def resolve_config(s: TrainSettings, save_dir: Path, resolved_config: Path) -> DetConfig:
    """The recipe with the stage's overrides (its values give the transform indices), written to
    `resolved_config`. The recipe file is read once."""
    recipe = read_config(config_path(s.config_name))
    save_dir.mkdir(parents=True, exist_ok=True)
    cfg = recipe.with_overrides(training_overrides(s, recipe.config, save_dir))
    dump_config(cfg, resolved_config)
    return cfg


def run_training(s: TrainSettings, save_dir: Path, resolved_config: Path) -> dict[str, float]:
    """Resolve the config, write it to `resolved_config`, train (one process or one per GPU), summarise."""
    cfg = resolve_config(s, save_dir, resolved_config)
    if s.gpus > 1:
        # det-model relaunches itself under paddle.distributed.launch: one training process per GPU.
        cmd = [det_model_command(), "train", "--nproc", str(s.gpus), "-c", str(resolved_config)]
        log.info("launching %s", " ".join(cmd))
        subprocess.run(cmd, check=True)
        return summarise_metrics_log(save_dir / METRICS_LOG)
    from det_model.evaluation import evaluator
    from det_model.program_eval import forward_builder
    from det_model.training import train

    result = train(cfg, evaluate=evaluator(cfg, forward_builder(cfg)))
    return summarise(result.best_metrics, result.epochs, result.global_step)


def run_training_multinode(
    s: TrainSettings,
    save_dir: Path,
    resolved_config: Path,
    *,
    job: str,
    image: str,
    num_nodes: int,
    pvc_name: str,
    api: object = None,
) -> dict[str, float]:
    """Stage data + config on the shared PVC, run a PaddleJob over `num_nodes` nodes and summarise it."""
    from components.paddlejob import (
        build_paddlejob,
        current_namespace,
        default_api,
        launch_command,
        run_paddlejob,
    )
    if not str(save_dir).startswith(CACHE_MOUNT) or not pvc_name:
        raise ValueError(
            f"num_nodes > 1 needs checkpoint_root under {CACHE_MOUNT} (the PVC cache_pvc), got {save_dir}"
        )
    shared = save_dir.parent
    shutil.copytree(s.dataset_dir, shared / "data", dirs_exist_ok=True)
    pretrained = {}
    for name, prefix in s.pretrained.items():  # the workers cannot see this pod's artifact paths
        (shared / "pretrained").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{prefix}.pdparams", shared / "pretrained" / f"{name}.pdparams")
        pretrained[name] = str(shared / "pretrained" / name)
    s = replace(s, dataset_dir=str(shared / "data"), pretrained=pretrained)
    cfg = resolve_config(s, save_dir, resolved_config)
    shared_cfg = save_dir / "config.resolved.yml"
    dump_config(cfg, shared_cfg)
    body = build_paddlejob(
        job,
        namespace=current_namespace(),
        image=image,
        command=launch_command(num_nodes, s.gpus, str(shared_cfg)),
        num_nodes=num_nodes,
        gpus_per_node=s.gpus,
        pvc_name=pvc_name,
        mount_path=CACHE_MOUNT,
    )
    run_paddlejob(body, api or default_api())
    return summarise_metrics_log(save_dir / METRICS_LOG)


def train_stage(
    s: TrainSettings,
    model_dir: str,
    resolved_config: str,
    *,
    stage: str,
    run_id: str,
    checkpoint_root: str,
    num_nodes: int = 1,
    image: str = "",
    pvc_name: str = "",
) -> dict[str, float]:
    """One training stage end to end: pick the save folder, train (1 GPU, N GPUs or N nodes), publish."""
    from components.paddlejob import job_name

    save_dir = save_dir_for(model_dir, checkpoint_root, run_id, stage)
    if num_nodes > 1:
        summary = run_training_multinode(
            s,
            save_dir,
            Path(resolved_config),
            job=job_name(stage, run_id),
            image=image,
            num_nodes=num_nodes,
            pvc_name=pvc_name,
        )
    else:
        summary = run_training(s, save_dir, Path(resolved_config))
    publish(save_dir, Path(model_dir))
    return summary


def train_component(stage: str, params: Mapping[str, Any], pretrained: dict[str, str]) -> None:
    """The body both training components share. `params` are the component's parameters by name (its
    `locals()`): TrainSettings by field name, train the stage, log the summary to `metrics`, stamp `model`."""
    model = params["model"]
    settings = TrainSettings.from_params(params, dataset_dir=params["dataset"].path, pretrained=pretrained)
    summary = train_stage(
        settings,
        model.path,
        params["resolved_config"].path,
        stage=stage,
        run_id=params["run_id"],
        checkpoint_root=params["checkpoint_root"],
        num_nodes=params["num_nodes"],
        image=params["image"],
        pvc_name=params["cache_pvc"],
    )
    record_training(summary, params["metrics"], model)


def det_model_command() -> str:
    found = Path(sys.executable).with_name("det-model")
    return str(found) if found.exists() else (shutil.which("det-model") or "det-model")


def publish(save_dir: Path, model_dir: Path) -> None:
    """Copy a persistent checkpoint folder into the Model artifact (no-op when training wrote there)."""
    if save_dir.resolve() != model_dir.resolve():
        shutil.copytree(save_dir, model_dir, dirs_exist_ok=True)


