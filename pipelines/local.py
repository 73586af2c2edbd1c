"""Run the whole DAG on this machine with kfp.local (SubprocessRunner, current interpreter, CPU).

`runner="docker"` runs each task in a container of `image` through any Docker-API socket (DOCKER_HOST; see
pipelines.docker_runner), `runner="subprocess"` (the default) in this interpreter.

Defaults are tiny (synthetic data, 64 px, 2 epochs) so a run takes minutes on 2 cores; every pipeline
parameter can still be changed with `--set`. Each run folder gets `run_config.json` (the arguments), which
`python -m pipelines compare` reads together with the tasks' executor_output.json files.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping, Optional

LOCAL_DEFAULTS: dict[str, Any] = {
    "data_uri": "synthetic://12",
    "teacher_epochs": 2,
    "student_epochs": 2,
    "teacher_batch_size": 2,
    "student_batch_size": 2,
    "image_size": 64,
    "eval_side_len": 64,
    "eval_interval": 5,  # 10 train images / batch 2 = 5 steps an epoch: evaluate once per epoch
    "num_workers": 0,
    "gpus": 0,
    "checkpoint_root": "",  # write checkpoints straight into the artifacts
}
RUN_CONFIG = "run_config.json"


@dataclass(frozen=True)
class LocalRun:
    run_dir: Path
    metrics: dict[str, float]
    exported: Path


RUNNERS = ("subprocess", "docker")


def _runner_and_pipeline(runner: str, image: Optional[str]) -> tuple[Any, Callable, ContextManager]:
    """(kfp runner, pipeline function, context to run it in) for a runner name."""
    from kfp import local

    from pipelines.pipeline import build_pipeline, ppocrv3_det

    if runner == "subprocess":
        return local.SubprocessRunner(use_venv=False), ppocrv3_det, contextlib.nullcontext()
    if runner == "docker":
        from pipelines.docker_runner import docker_runner, exit_codes_kept

        if not image:
            raise ValueError("--runner docker needs --image (e.g. localhost/ppocrv3-det:cpu, `make image`)")
        return docker_runner(), build_pipeline(image=image), exit_codes_kept()
    raise ValueError(f"unknown runner {runner!r}; known: {', '.join(RUNNERS)}")


def run_local(
    overrides: Mapping[str, Any] = (),
    pipeline_root: Path = Path("local_outputs"),
    runner: str = "subprocess",
    image: Optional[str] = None,
) -> LocalRun:
    """Run the pipeline with LOCAL_DEFAULTS updated by `overrides`; return where its outputs are."""
    from kfp import local

    from pipelines.params import defaults

    kfp_runner, ppocrv3_det, context = _runner_and_pipeline(runner, image)
    arguments = {**LOCAL_DEFAULTS, **dict(overrides)}
    pipeline_root = Path(pipeline_root).resolve()
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
    return LocalRun(run_dir=run_dir, metrics=dict(metrics.metadata), exported=Path(exported.path))
