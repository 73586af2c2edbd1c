"""Running one training stage: content-keyed save folder, one process / N GPUs / N nodes (TrainJob or
PaddleJob through components.launcher), publishing, training curves.

Component functions are serialised into the compiled spec by source, so what they share lives in the
`components` package (no kfp import here) that the image installs next to det_model.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Optional

from components.overrides import training_overrides
from components.settings import CACHE_MOUNT, TrainSettings
from components.summary import record_training, summarise, summarise_metrics_log
from det_model.config import DetConfig, config_path, dump_config, read_config
from det_model.training.history import METRICS_LOG

log = logging.getLogger(__name__)


def save_dir_for(model_path: str, checkpoint_root: str, key: str, stage: str) -> Path:
    """Where training writes: a content-keyed folder on the PVC when given (identical work and retried pods
    find `latest` there), else straight into the Model artifact."""
    if checkpoint_root:
        return Path(checkpoint_root) / f"{stage}-{key}"
    return Path(model_path)


def stage_key(s: TrainSettings, inputs: Mapping[str, str]) -> str:
    """The content key of a stage: its config resolved with the inputs' URIs in place of this pod's local
    paths (which differ per run), plus those URIs; run ids and resume state do not enter."""
    import tempfile

    from components.keys import content_key

    portable = replace(
        s, dataset_dir=inputs.get("dataset", ""), pretrained={n: "@" + n for n in s.pretrained}
    )
    recipe = read_config(config_path(s.config_name))
    cfg = recipe.with_overrides(training_overrides(portable, recipe.config, Path("/@checkpoints")))
    with tempfile.TemporaryDirectory() as tmp:
        dump_config(cfg, Path(tmp) / "key.yml")
        return content_key((Path(tmp) / "key.yml").read_text(), inputs)


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


def stage_on_shared_volume(s: TrainSettings, shared: Path) -> TrainSettings:
    """Copy the dataset and pretrained weights where the node pods see them (they cannot see this pod's
    artifact paths), inside the stage's own content-keyed folder; the settings pointing at the copies."""
    shutil.copytree(s.dataset_dir, shared / "data", dirs_exist_ok=True)
    pretrained = {}
    for name, prefix in s.pretrained.items():
        (shared / "pretrained").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{prefix}.pdparams", shared / "pretrained" / f"{name}.pdparams")
        pretrained[name] = str(shared / "pretrained" / name)
    return replace(s, dataset_dir=str(shared / "data"), pretrained=pretrained)


def run_training_multinode(
    s: TrainSettings,
    save_dir: Path,
    resolved_config: Path,
    *,
    job: str,
    image: str,
    num_nodes: int,
    pvc_name: str,
    engine: str = "trainjob",
    node_selector: Optional[dict] = None,
    tolerations: Optional[list] = None,
) -> dict[str, float]:
    """Stage data + config on the shared PVC, run a TrainJob (or PaddleJob) on `num_nodes` nodes, summarise."""
    from components.distributed import NodeSpec, owner_reference
    from components.launcher import Follower, current_namespace, default_apis, engine_named

    if not str(save_dir).startswith(CACHE_MOUNT) or not pvc_name:
        raise ValueError(
            f"num_nodes > 1 needs checkpoint_root under {CACHE_MOUNT} (the PVC shared_pvc), got {save_dir}"
        )
    cfg = resolve_config(stage_on_shared_volume(s, save_dir), save_dir, resolved_config)  # per content key
    shared_cfg = save_dir / "config.resolved.yml"
    dump_config(cfg, shared_cfg)
    node = NodeSpec(
        image=image,
        args=["det-model", "train", "-c", str(shared_cfg)],
        num_nodes=num_nodes,
        gpus_per_node=s.gpus,
        shared_pvc=pvc_name,
        mount_path=CACHE_MOUNT,
        node_selector=node_selector or {},
        tolerations=tolerations or [],
    )
    chosen = engine_named(engine)
    owner = owner_reference(os.environ.get("POD_NAME", ""), os.environ.get("POD_UID", ""))
    custom, core = default_apis()
    Follower(chosen, chosen.build(job, current_namespace(), node, owner), custom, core).run(node.timeout_s)
    return summarise_metrics_log(save_dir / METRICS_LOG)


def train_stage(
    s: TrainSettings,
    model_dir: str,
    resolved_config: str,
    *,
    stage: str,
    inputs: Mapping[str, str],
    checkpoint_root: str,
    num_nodes: int = 1,
    multinode: Optional[Mapping[str, Any]] = None,
    curves: str = "",
    publish_all: bool = False,
) -> dict[str, float]:
    """One training stage end to end: content-keyed save folder, train (1 GPU, N GPUs or N nodes), publish.
    `multinode`: run_training_multinode's keyword arguments besides the job name (image, pvc_name, ...)."""
    from components.distributed import job_name
    from components.publishing import publish_checkpoints
    from det_model.training.curves import write_curves_html

    key = stage_key(s, inputs)
    save_dir = save_dir_for(model_dir, checkpoint_root, key, stage)
    log.info("stage %s: content key %s, checkpoints in %s", stage, key, save_dir)
    if num_nodes > 1:
        summary = run_training_multinode(
            s,
            save_dir,
            Path(resolved_config),
            job=job_name(stage, key),
            num_nodes=num_nodes,
            **(multinode or {}),
        )
    else:
        summary = run_training(s, save_dir, Path(resolved_config))
    if curves:
        write_curves_html(save_dir / METRICS_LOG, Path(curves), f"{stage} training curves")
    publish_checkpoints(save_dir, Path(model_dir), everything=publish_all)
    return summary


def train_component(
    stage: str, params: Mapping[str, Any], pretrained: dict[str, str], inputs: Mapping[str, str]
) -> None:
    """The body both training components share. `params` are the component's parameters by name (its
    `locals()`): TrainSettings by field name, train the stage, log the summary to `metrics`, stamp `model`.
    `inputs`: the identities (URIs) of the input artifacts and weights, for the content key."""
    model = params["model"]
    settings = TrainSettings.from_params(params, dataset_dir=params["dataset"].path, pretrained=pretrained)
    multinode = dict(image=params["image"], pvc_name=params["cache_pvc"], engine=params["engine"])
    multinode.update(node_selector=params["node_selector"], tolerations=params["tolerations"])
    summary = train_stage(
        settings,
        model.path,
        params["resolved_config"].path,
        stage=stage,
        inputs=inputs,
        checkpoint_root=params["checkpoint_root"],
        num_nodes=params["num_nodes"],
        multinode=multinode,
        curves=params["curves"].path,
        publish_all=params["publish_all_checkpoints"],
    )
    record_training(summary, params["metrics"], model)


def det_model_command() -> str:
    found = Path(sys.executable).with_name("det-model")
    return str(found) if found.exists() else (shutil.which("det-model") or "det-model")
