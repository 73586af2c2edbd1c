"""Run the whole DAG on this machine with kfp.local (SubprocessRunner, current interpreter, CPU).

The defaults are the demo of `make run`: recipe student-finetune from the released PP-OCRv3 detector
(`make released` puts it at pipelines.released.DEFAULT_PATH), fine-tuned briefly on synthetic scene text, then
evaluated next to its starting weights on held-out synthetic images and exported. Every pipeline parameter can
still be changed with `--set`; TINY holds the settings the tests use to check the plumbing of every recipe.
Each run folder gets `run_config.json` (the arguments), which `python -m pipelines compare` reads together
with the tasks' executor_output.json files.

`runner="docker"` runs each task in a container of `image` through any Docker-API socket (DOCKER_HOST; see
pipelines.docker_runner), `runner="subprocess"` (the default) in this interpreter.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping, Optional, Sequence

from pipelines.recipes import check_recipe_argument
from pipelines.released import DEFAULT_PATH

LOCAL_DEFAULTS: dict[str, Any] = {
    "recipe": "student-finetune",
    "student_pretrained_uri": str(DEFAULT_PATH),
    "data_uri": "synthetic://100",  # 80 training, 20 held-out images (384x512)
    # Recipes with a DML stage (full, dml-finetune): 2 epochs of 10 of the 80 images (ratio_list 0.125), 10
    # steps of batch 2, evaluated once at the end: the teacher budget measured in docs/training.md ("A briefly
    # trained teacher"); 80 steps of two ResNet50_vd models would take about an hour on 2 cores.
    "teacher_epochs": 2,
    "dml_overrides": ["Train.dataset.ratio_list=[0.125]", "Global.eval_batch_step=[0,10]"],
    "student_epochs": 3,
    "teacher_batch_size": 2,
    "student_batch_size": 4,
    "student_learning_rate": 0.0002,  # fine-tuning: a fifth of the recipe's rate
    "image_size": 320,
    "eval_side_len": 384,  # the images' own short side: evaluated at their own scale
    # 80 train images / batch 4 = 20 steps an epoch: one evaluation, after the last step, so best_accuracy is
    # the final model (not one picked on the held-out images the report scores).
    "eval_interval": 60,
    "num_workers": 0,
    "gpus": 0,
    "checkpoint_root": "",  # write checkpoints straight into the artifacts
}
# Plumbing-sized settings (12 images, 64 px, 1 epoch) for checking a recipe end to end in about a minute.
TINY: dict[str, Any] = {
    "data_uri": "synthetic://12",
    "teacher_epochs": 1,
    "dml_overrides": [],
    "student_epochs": 1,
    "teacher_batch_size": 2,
    "student_batch_size": 2,
    "image_size": 64,
    "eval_side_len": 64,
    "eval_interval": 5,  # 10 train images / batch 2 = 5 steps an epoch: evaluate once per epoch
}
RUN_CONFIG = "run_config.json"


@dataclass(frozen=True)
class LocalRun:
    run_dir: Path
    metrics: dict[str, float]
    exported: Path
    serving: Path  # the folder to deploy: exported/Student for CML, exported itself for the plain student


def local_arguments(overrides: Mapping[str, Any] = ()) -> dict[str, Any]:
    """LOCAL_DEFAULTS updated by `overrides`, checked; local pretrained paths made absolute."""
    arguments = {**LOCAL_DEFAULTS, **dict(overrides)}
    check_recipe_argument(arguments)
    for key in ("student_pretrained_uri", "teacher_pretrained_uri"):
        value = str(arguments.get(key) or "")
        if value and "://" not in value:
            if not Path(value).exists():
                hint = " (run `make released` first)" if Path(value) == DEFAULT_PATH else ""
                raise ValueError(f"{key}={value}: no such file or folder{hint}")
            arguments[key] = str(Path(value).resolve())
    return arguments


RUNNERS = ("subprocess", "docker")


def local_input_dirs(arguments: Mapping[str, Any]) -> list[str]:
    """Folders of the local (absolute) pretrained paths in `arguments`: what a task container must see."""
    paths = [Path(str(arguments.get(key) or "")) for key in ("student_pretrained_uri", "teacher_pretrained_uri")]
    return sorted({str(p if p.is_dir() else p.parent) for p in paths if p.is_absolute()})


def _no_context(_input_dirs: Sequence[str]) -> ContextManager:
    """Subprocess tasks read host paths as they are."""
    return contextlib.nullcontext()


def _runner_and_pipeline(
    runner: str, image: Optional[str]
) -> tuple[Any, Callable, Callable[[Sequence[str]], ContextManager]]:
    """(kfp runner, pipeline function, context to run it in given the host folders tasks read) for a runner."""
    from kfp import local

    from pipelines.pipeline import build_pipeline

    # multinode=False: kfp.local cannot run the multi-node branches (a OneOf inside each training stage).
    if runner == "subprocess":
        return local.SubprocessRunner(use_venv=False), build_pipeline(multinode=False), _no_context
    if runner == "docker":
        from pipelines.docker_runner import docker_runner, exit_codes_kept

        if not image:
            raise ValueError("--runner docker needs --image (e.g. localhost/ppocrv3-det:cpu, `make image`)")
        return docker_runner(), build_pipeline(image=image, multinode=False), exit_codes_kept
    raise ValueError(f"unknown runner {runner!r}; known: {', '.join(RUNNERS)}")


def run_local(
    overrides: Mapping[str, Any] = (),
    pipeline_root: Path = Path("local_outputs"),
    runner: str = "subprocess",
    image: Optional[str] = None,
) -> LocalRun:
    """Run the pipeline with LOCAL_DEFAULTS updated by `overrides`; return where its outputs are."""
    from kfp import local

    from pipelines.local_oneof import enable_artifact_oneof
    from pipelines.params import defaults

    kfp_runner, ppocrv3_det, in_context = _runner_and_pipeline(runner, image)
    arguments = local_arguments(overrides)
    context = in_context(local_input_dirs(arguments))
    pipeline_root = Path(pipeline_root).resolve()
    enable_artifact_oneof()
    local.init(runner=kfp_runner, pipeline_root=str(pipeline_root))
    with warnings.catch_warnings(), context:
        # Resource, GPU and image settings have no meaning in the subprocess runner; kfp warns for each task.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*custom or non-Python base image.*")
        task = ppocrv3_det(**arguments)
    metrics, exported = task.outputs["metrics"], task.outputs["exported"]
    run_dir = Path(metrics.path).parents[1]  # <root>/<pipeline>-<timestamp>/evaluate/metrics
    params = {**defaults(ppocrv3_det), **arguments}  # every value, so compare shows what differed
    (run_dir / RUN_CONFIG).write_text(json.dumps({"arguments": params}, indent=2, default=str))
    serving = Path(exported.path) / str(exported.metadata.get("serve") or ".")
    return LocalRun(run_dir, dict(metrics.metadata), Path(exported.path), serving.resolve())
