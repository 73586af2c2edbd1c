"""Plain-Python helpers that the component bodies call (no kfp import): overrides, resume, launch, summaries.

Component functions are serialised into the compiled spec by source, so anything shared between them lives
here, in the `components` package that the image installs next to det_model.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

log = logging.getLogger(__name__)

LATEST = "latest"
BEST = "best_accuracy"
CACHE_MOUNT = "/cache"  # where the pipeline mounts the cache PVC (training steps and PaddleJob workers alike)


def yaml_value(value: object) -> str:
    """JSON is valid YAML: quoting keeps paths with ':' or ',' intact through PaddleOCR's `-o` parsing."""
    return json.dumps(value)


def dataset_overrides(data_dir: str) -> list[str]:
    """Point Train and Eval at the Dataset artifact of fetch_hiertext (det_model.data.fetch layout)."""
    return [
        f"Train.dataset.data_dir={yaml_value(data_dir)}",
        f"Train.dataset.label_file_list={yaml_value([f'{data_dir}/label_train.txt'])}",
        f"Eval.dataset.data_dir={yaml_value(data_dir)}",
        f"Eval.dataset.label_file_list={yaml_value([f'{data_dir}/label_eval.txt'])}",
    ]


def transform_index(config_file: Path, section: str, name: str) -> Optional[int]:
    """Index of transform `name` in `section`.dataset.transforms of a recipe (differs per recipe)."""
    from det_model.config import load_config

    cfg = load_config(config_file)
    data = getattr(cfg, section)
    for i, op in enumerate(data.dataset.transforms if data else ()):
        if type(op).__name__ == f"{name}Config":
            return i
    return None


def size_overrides(config_file: Path, image_size: int, eval_side_len: int) -> list[str]:
    """Training crop (EastRandomCropData.size) and eval resize (DetResizeForTest.limit_side_len) overrides."""
    out = []
    crop = transform_index(config_file, "Train", "EastRandomCropData")
    if crop is not None and image_size > 0:
        out.append(f"Train.dataset.transforms.{crop}.EastRandomCropData.size=[{image_size},{image_size}]")
    resize = transform_index(config_file, "Eval", "DetResizeForTest")
    if resize is not None and eval_side_len > 0:
        out.append(f"Eval.dataset.transforms.{resize}.DetResizeForTest.limit_side_len={eval_side_len}")
    return out


@dataclass
class TrainSettings:
    """What a pipeline user tunes for one training stage (the component parameters, grouped)."""

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


def training_overrides(s: TrainSettings, save_dir: Path) -> list[str]:
    """The `-o` list of a stage: data, schedule, hardware, pretrained, then the user's free overrides."""
    from components.recipe_inputs import pretrained_overrides
    from det_model.config import config_path, load_config

    out = dataset_overrides(s.dataset_dir) + [
        f"Global.save_model_dir={yaml_value(str(save_dir))}",
        f"Global.epoch_num={s.epochs}",
        f"Global.eval_batch_step=[0,{s.eval_interval}]",
        f"Global.use_gpu={yaml_value(s.gpus > 0)}",
        f"Global.use_amp={yaml_value(s.use_amp)}",
        f"Train.loader.batch_size_per_card={s.batch_size}",
        f"Train.loader.num_workers={s.num_workers}",
        f"Eval.loader.num_workers={s.num_workers}",
        f"Optimizer.lr.learning_rate={s.learning_rate}",
    ]
    out += size_overrides(config_path(s.config_name), s.image_size, s.eval_side_len)
    out += pretrained_overrides(load_config(config_path(s.config_name)), s.pretrained)
    if (save_dir / f"{LATEST}.pdparams").exists():  # a retried step: continue from the last saved epoch
        log.info("resuming from %s/%s", save_dir, LATEST)
        out.append(f"Global.checkpoints={yaml_value(str(save_dir / LATEST))}")
    return out + list(s.overrides)


def save_dir_for(model_path: str, checkpoint_root: str, run_id: str, stage: str) -> Path:
    """Where training writes: a persistent folder (a PVC) when given, so retried pods find `latest`."""
    if checkpoint_root:
        return Path(checkpoint_root) / run_id / stage
    return Path(model_path)


def run_training(s: TrainSettings, save_dir: Path, resolved_config: Path) -> dict[str, float]:
    """Resolve the config, write it to `resolved_config`, train (one process or one per GPU), summarise."""
    from det_model.config import config_path, dump_config, load_config

    save_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config_path(s.config_name), training_overrides(s, save_dir))
    dump_config(cfg, resolved_config)
    if s.gpus > 1:
        # det-model relaunches itself under paddle.distributed.launch: one training process per GPU.
        cmd = [det_model_command(), "train", "--nproc", str(s.gpus), "-c", str(resolved_config)]
        log.info("launching %s", " ".join(cmd))
        subprocess.run(cmd, check=True)
        return summarise_metrics_log(save_dir / "metrics.jsonl")
    from det_model.training import train

    result = train(cfg)
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
    from det_model.config import config_path, dump_config, load_config

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
    save_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config_path(s.config_name), training_overrides(s, save_dir))
    dump_config(cfg, resolved_config)
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
    return summarise_metrics_log(save_dir / "metrics.jsonl")


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


def det_model_command() -> str:
    found = Path(sys.executable).with_name("det-model")
    return str(found) if found.exists() else (shutil.which("det-model") or "det-model")


def summarise(best: dict[str, float], epochs: int, steps: int) -> dict[str, float]:
    """Flat metrics for a KFP Metrics artifact: best_<key> per best-checkpoint value, epochs, steps."""
    numbers = {k: float(v) for k, v in best.items() if isinstance(v, (int, float))}
    out = {(k if k.startswith("best_") else f"best_{k}"): v for k, v in numbers.items()}
    return out | {"epochs": float(epochs), "steps": float(steps)}


def summarise_metrics_log(path: Path) -> dict[str, float]:
    """Best hmean record of a metrics.jsonl (one JSON object per evaluation) as `summarise` does it."""
    records = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )
    evals = [r for r in records if "hmean" in r]
    best = max(evals, key=lambda r: r["hmean"], default={})
    epochs = max((int(r.get("epoch", 0)) for r in records), default=0)
    steps = max((int(r.get("global_step", 0)) for r in records), default=0)
    return summarise({k: v for k, v in best.items() if k not in ("epoch", "global_step")}, epochs, steps)


def publish(save_dir: Path, model_dir: Path) -> None:
    """Copy a persistent checkpoint folder into the Model artifact (no-op when training wrote there)."""
    if save_dir.resolve() != model_dir.resolve():
        shutil.copytree(save_dir, model_dir, dirs_exist_ok=True)


def inference_overrides(cfg_file: Path, model_dir: str, dataset_dir: str = "") -> list[str]:
    """For evaluate/export: load weights from the trained Model and drop training-time pretrained paths."""
    from det_model.config import load_config

    cfg = load_config(cfg_file)
    out = [
        f"Global.checkpoints={yaml_value(f'{model_dir}/{BEST}')}",
        f"Global.use_gpu={yaml_value(has_gpu())}",
    ]
    out += [f"Architecture.Models.{name}.pretrained=null" for name in getattr(cfg.Architecture, "Models", {})]
    return out + (dataset_overrides(dataset_dir) if dataset_dir else [])


def has_gpu() -> bool:
    import paddle

    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
