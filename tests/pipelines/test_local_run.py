"""Local runs: compare + notebooks on fabricated run folders (fast), the real run-local end to end (slow)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support.paths import RELEASED_ONNX
from nbclient import NotebookClient

from pipelines.cli import main
from pipelines.compare import load_local_run

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def fake_run(root: Path, name: str, lr: float, hmean: float) -> Path:
    """A folder shaped like kfp.local's output (executor_output.json per task, metrics.jsonl curves); the
    student task carries the number KFP gives it inside a recipe branch."""
    run = root / name
    for task, meta in [
        ("train-dml-teacher", {"hmean": hmean / 2, "steps": 10.0}),
        ("train-cml-student-2", {"hmean": hmean, "steps": 10.0}),
        ("evaluate", {"precision": hmean, "recall": hmean, "hmean": hmean, "images": 3.0}),
    ]:
        (run / task).mkdir(parents=True)
        output = {"artifacts": {"metrics": {"artifacts": [{"name": "metrics", "metadata": meta}]}}}
        (run / task / "executor_output.json").write_text(json.dumps(output))
        if task.startswith("train"):
            (run / task / "model").mkdir()
            rows = [{"type": "train", "global_step": s, "loss": 3.0 - s * lr} for s in range(1, 11)]
            rows += [
                {"type": "eval", "global_step": 5, "hmean": hmean / 2},
                {"type": "eval", "global_step": 10, "hmean": hmean},
            ]
            (run / task / "model" / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (run / "run_config.json").write_text(json.dumps({"arguments": {"student_learning_rate": lr, "gpus": 0}}))
    return run


def execute(notebook: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return nb


def test_compare_cli_on_two_local_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = fake_run(tmp_path, "ppocrv3-det-a", 0.001, 0.5), fake_run(tmp_path, "ppocrv3-det-b", 0.01, 0.7)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| eval/hmean | 0.5000 | 0.7000 |" in table
    assert "| param student_learning_rate | 0.001 | 0.01 |" in table and "param gpus" not in table
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 1000
    assert load_local_run(a).curves["student"][-1]["hmean"] == 0.5
    assert load_local_run(a).metrics["student/hmean"] == 0.5


def test_compare_refuses_a_run_id_without_host(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no --host"):
        main(["compare", "not-a-folder-or-known-run", "--out", str(tmp_path)])


def test_compare_runs_notebook_on_fabricated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_run(tmp_path, "ppocrv3-det-a", 0.001, 0.25)
    fake_run(tmp_path, "ppocrv3-det-b", 0.01, 0.75)
    nb = execute(
        "compare_runs.ipynb",
        {"PPOCR_LOCAL_OUTPUTS": str(tmp_path), "PPOCR_COMPARE_OUT": str(tmp_path / "cmp")},
        monkeypatch,
    )
    table = nb.cells[3].outputs[0]["data"]["text/markdown"]
    assert "0.2500" in table and "0.7500" in table
    assert (tmp_path / "cmp" / "comparison.png").exists()


# ------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def two_local_runs(tmp_path_factory: pytest.TempPathFactory) -> list:
    from pipelines.local import TINY, run_local

    if not RELEASED_ONNX.is_file():
        pytest.skip(f"released ONNX not found at {RELEASED_ONNX}")
    root = tmp_path_factory.mktemp("local_outputs")
    start = {**TINY, "student_pretrained_uri": str(RELEASED_ONNX)}  # the default recipe, student-finetune
    return [run_local({**start, "student_learning_rate": lr}, root) for lr in (0.001, 0.002)]


@pytest.mark.slow
def test_run_local_end_to_end(two_local_runs: list, tmp_path: Path) -> None:
    run = two_local_runs[0]
    for key in ("precision", "recall", "hmean", "images"):
        assert key in run.metrics
    assert 0.0 <= run.metrics["hmean"] <= 1.0 and run.metrics["images"] > 0
    student = run.serving  # the plain student (default recipe) is exported into the folder itself
    assert (student / "inference.pdmodel").exists() and (student / "inference.pdiparams").exists()
    image = next((run.run_dir / "fetch-hiertext" / "dataset" / "raw" / "images").glob("*.jpg"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "det_model",
            "infer",
            "--model-dir",
            str(student),
            "--image",
            str(image),
            "--out",
            str(tmp_path / "infer"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any((tmp_path / "infer").iterdir())


@pytest.mark.slow
def test_compare_and_notebooks_on_real_local_runs(
    two_local_runs: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = [str(r.run_dir) for r in two_local_runs]
    assert main(["compare", *dirs, "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "param student_learning_rate" in table and "eval/hmean" in table
    env = {"PPOCR_RUNS": ":".join(dirs), "PPOCR_RUN": dirs[0], "PPOCR_COMPARE_OUT": str(tmp_path / "nb")}
    execute("compare_runs.ipynb", env, monkeypatch)
    nb = execute("inspect_detections.ipynb", env, monkeypatch)
    assert "detections" in "".join(o.get("text", "") for o in nb.cells[2].outputs)


@pytest.mark.slow
def test_the_default_run_gives_a_working_detector_and_says_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run`'s run (LOCAL_DEFAULTS, students from the released ONNX): the exported student scores hmean
    >= 0.85 on the held-out images and not below its starting weights there; report and model are printed."""
    if not RELEASED_ONNX.is_file():
        pytest.skip(f"released ONNX not found at {RELEASED_ONNX}")
    sets = ["--set", f"student_pretrained_uri={RELEASED_ONNX}"]
    assert main(["run-local", "--output-root", str(tmp_path), *sets]) == 0
    out = capsys.readouterr().out
    printed = re.search(r"^hmean: +([0-9.]+) \(starting weights\) -> ([0-9.]+)", out, re.M)
    start, trained = map(float, printed.groups())
    assert trained >= 0.85 and trained >= start, out
    report = Path(re.search(r"^report: +(\S+)", out, re.M)[1])
    exported = Path(re.search(r"^exported model: +(\S+)", out, re.M)[1])
    assert "<th>starting weights</th><th>trained</th>" in report.read_text()
    assert (exported / "inference.pdmodel").is_file() and (exported / "inference.pdiparams").is_file()
