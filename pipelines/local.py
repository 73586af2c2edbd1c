"""Run the whole DAG on this machine with kfp.local (SubprocessRunner, current interpreter, CPU).

Defaults are tiny (synthetic data, 64 px, 2 epochs) so a run takes minutes on 2 cores; every pipeline
parameter can still be changed with `--set`. Each run folder gets `run_config.json` (the arguments), which
`python -m pipelines compare` reads together with the tasks' executor_output.json files.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

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


def run_local(overrides: Mapping[str, Any] = (), pipeline_root: Path = Path("local_outputs")) -> LocalRun:
    """Run the pipeline with LOCAL_DEFAULTS updated by `overrides`; return where its outputs are."""
    from kfp import local

    from pipelines.params import defaults
    from pipelines.pipeline import build_pipeline

    ppocrv3_det = build_pipeline(multinode=False)  # kfp.local cannot run the multi-node branch's dsl.OneOf
    arguments = {**LOCAL_DEFAULTS, **dict(overrides)}
    pipeline_root = Path(pipeline_root).resolve()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    with warnings.catch_warnings():
        # Resource, GPU and image settings have no meaning in the subprocess runner; kfp warns for each task.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        warnings.filterwarnings("ignore", message=".*custom or non-Python base image.*")
        task = ppocrv3_det(**arguments)
    metrics, exported = task.outputs["metrics"], task.outputs["exported"]
    run_dir = Path(metrics.path).parents[1]  # <root>/<pipeline>-<timestamp>/evaluate/metrics
    params = {**defaults(ppocrv3_det), **arguments}  # every value, so compare shows what differed
    (run_dir / RUN_CONFIG).write_text(json.dumps({"arguments": params}, indent=2, default=str))
    return LocalRun(run_dir=run_dir, metrics=dict(metrics.metadata), exported=Path(exported.path))
