"""Side-by-side metrics of several runs: local run folders (kfp.local) and remote runs (kfp.Client).

A local run is read from its folder: `run_config.json` (arguments), each task's `executor_output.json`
(Metrics metadata) and the checkpoint folders' `metrics.jsonl` (curves). A remote run's arguments come from
`kfp.Client.get_run`; its metrics from `<results_uri>/<run_id>/` (written by the evaluate step), because the
KFP 2.17 run API returns only artifact ids (metric values live in MLMD).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

STAGES = {"train-dml-teacher": "teacher", "train-cml-student": "student", "evaluate": "eval"}
# stage -> the task whose model/metrics.jsonl holds its curve
CURVES = {"teacher": "train-dml-teacher", "student": "train-cml-student"}


@dataclass
class RunRecord:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # "<stage>/<metric>" -> value
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # stage -> metrics.jsonl records
    state: str = ""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_dir(run_dir: Path, task: str) -> Path:
    """The folder of `task` in a local run: `task`, or `task-<n>` when it ran inside a recipe branch."""
    found = sorted(
        p for p in run_dir.glob(f"{task}*") if p.name == task or p.name[len(task) + 1 :].isdigit()
    )
    return found[0] if found else run_dir / task


def load_local_run(run_dir: Path) -> RunRecord:
    """Read a kfp.local run folder (`local_outputs/ppocrv3-det-<timestamp>`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: not a local run folder")
    config = run_dir / "run_config.json"
    outputs = [run_dir / task / "executor_output.json" for task in STAGES]
    if not config.exists() and not any(p.exists() for p in outputs):
        raise ValueError(
            f"{run_dir}: not a run folder (no run_config.json and no <task>/executor_output.json of "
            f"{', '.join(STAGES)}); pass a folder written by `python -m pipelines run-local`, e.g. "
            "local_outputs/ppocrv3-det-<timestamp>, or a remote run id with --host"
        )
    record = RunRecord(name=run_dir.name, state="local")
    if config.exists():
        record.parameters = json.loads(config.read_text())["arguments"]
    for task, stage in STAGES.items():
        output = task_dir(run_dir, task) / "executor_output.json"
        if not output.exists():
            continue
        artifacts = json.loads(output.read_text()).get("artifacts", {})
        for artifact in artifacts.get("metrics", {}).get("artifacts", []):
            for key, value in artifact.get("metadata", {}).items():
                if isinstance(value, (int, float)):
                    record.metrics[f"{stage}/{key}"] = float(value)
    record.curves = {
        stage: read_jsonl(task_dir(run_dir, task) / "model" / "metrics.jsonl") for stage, task in CURVES.items()
    }
    return record


def load_remote_run(client: Any, run_id: str, results_uri: str = "") -> RunRecord:
    """Arguments and state from the KFP API; metrics and the student curve from `results_uri` when given."""
    run = client.get_run(run_id)
    params = dict(getattr(run.runtime_config, "parameters", None) or {}) if run.runtime_config else {}
    record = RunRecord(name=run.display_name or run_id, parameters=params, state=str(run.state or ""))
    if results_uri:
        from det_model.data.fetch.errors import FetchError
        from det_model.data.fetch.transport import fetch_file

        work = Path(tempfile.mkdtemp(prefix="compare-"))
        base = f"{results_uri.rstrip('/')}/{run_id}"
        metrics = json.loads(fetch_file(f"{base}/metrics.json", work).read_text())
        record.metrics = {f"eval/{k}": float(v) for k, v in metrics.items()}
        try:
            record.curves["student"] = read_jsonl(fetch_file(f"{base}/student_metrics.jsonl", work))
        except FetchError:
            pass
    return record


def comparison_table(records: Sequence[RunRecord]) -> str:
    """A Markdown table: metrics, then the parameters whose values differ between the runs."""
    header = "| | " + " | ".join(r.name for r in records) + " |\n|---|" + "---|" * len(records) + "\n"
    keys = sorted({k for r in records for k in r.metrics})
    rows = [f"| {k} | " + " | ".join(_fmt(r.metrics.get(k)) for r in records) + " |" for k in keys]
    names = sorted({k for r in records for k in r.parameters})
    differing = [k for k in names if len({json.dumps(r.parameters.get(k), default=str) for r in records}) > 1]
    rows += [
        f"| param {k} | " + " | ".join(str(r.parameters.get(k, "")) for r in records) + " |"
        for k in differing
    ]
    return header + "\n".join(rows) + "\n"


def _fmt(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"


def comparison_plot(records: Sequence[RunRecord], out: Path) -> Path:
    """Eval precision/recall/hmean bars per run, and hmean/loss curves of both training stages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, hmean, loss) = plt.subplots(1, 3, figsize=(15, 4))
    names = ("precision", "recall", "hmean")
    width = 0.8 / max(1, len(records))
    for i, record in enumerate(records):
        xs = [j + i * width for j in range(len(names))]
        bars.bar(xs, [record.metrics.get(f"eval/{n}", 0.0) for n in names], width, label=record.name)
        for stage, rows in record.curves.items():
            evals = [r for r in rows if "hmean" in r and "global_step" in r]
            hmean.plot(
                [r["global_step"] for r in evals],
                [r["hmean"] for r in evals],
                marker="o",
                label=f"{record.name} {stage}",
            )
            losses = [r for r in rows if "loss" in r and "global_step" in r]
            loss.plot(
                [r["global_step"] for r in losses],
                [r["loss"] for r in losses],
                label=f"{record.name} {stage}",
            )
    bars.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names)
    bars.set_title("evaluation")
    hmean.set_title("hmean during training")
    loss.set_title("training loss")
    for ax in (bars, hmean, loss):
        if ax.has_data():
            ax.legend(fontsize="small")
    hmean.set_xlabel("step")
    loss.set_xlabel("step")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
