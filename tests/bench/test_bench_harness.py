"""The benchmark harness (bench/): goal arithmetic, the markdown report, and a smoke run of the sections on
one image with one repeat (a check that the harness runs, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import Figure, SectionResult, goal_met
from bench.report import render
from support.paths import REPO as REPO_ROOT
from support.paths import SHARED


@pytest.mark.parametrize(
    ("value", "goal", "expected"),
    [
        (1.0, "<= 1.0", True),  # boundary counts as met for <=
        (1.0001, "<= 1.0", False),
        (1.0, "< 1.0", False),  # strict bound
        (2.0, ">= 2", True),  # speed-up goals are >=
        (1.99, ">= 2", False),
        (0.5, "> 0.4", True),
    ],
)
def test_goal_met(value: float, goal: str, expected: bool) -> None:
    assert goal_met(value, goal) is expected


def test_goal_met_rejects_unknown_operator() -> None:
    with pytest.raises(ValueError, match="goal '== 1'"):
        goal_met(1.0, "== 1")


def test_figure_ratio_and_goal() -> None:
    figure = Figure("x", ours=3.0, reference=6.0, unit="ms", goal="<= 0.5")
    assert figure.ratio == pytest.approx(0.5) and figure.met is True
    informational = Figure("y", ours=3.0, reference=1.0, unit="ms", goal="")
    assert informational.ratio == pytest.approx(3.0) and informational.met is None


def _result(name: str, figures: list[Figure], skipped: str | None = None) -> SectionResult:
    return SectionResult(name=name, title=f"Title {name}", command=f"python -m bench --only {name}",
                         machine={"cpu": "TestCPU", "usable_cores": 2, "logical_cores": 2}, versions={"numpy": "9"},
                         started="now", seconds=1.0, figures=figures, skipped=skipped,
                         tables={"t": [{"a": 1, "b": "x|y"}]})


def test_report_lists_every_figure_with_its_verdict_and_the_machine() -> None:
    results = [_result("b", [Figure("slow", 3.0, 1.0, "ms", "<= 1.0")]),
               _result("a", [Figure("fast", 1.0, 4.0, "ms", "<= 0.5")]), _result("c", [], skipped="no data here")]
    text = render(results, order=["a", "b", "c"])
    assert text.index("Title a") < text.index("Title b")  # the given section order, not file order
    assert "| Title a | fast | 0.25 | <= 0.5 | **met** |" in text
    assert "| Title b | slow | 3 | <= 1.0 | **not met** |" in text
    assert "skipped: no data here" in text
    assert "TestCPU" in text and "numpy 9" in text and "`python -m bench --only a`" in text
    assert "x\\|y" in text  # table cells cannot break the markdown table


def test_result_json_round_trip() -> None:
    result = _result("a", [Figure("f", 1.0, 2.0, "ms", "<= 1.0", note="n")])
    again = SectionResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result


def _run_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bench", "--results-dir", str(tmp_path / "results"), "--doc",
           str(tmp_path / "benchmarks.md"), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_missing_sample_data_skips_the_section_with_a_reason(tmp_path: Path) -> None:
    proc = _run_bench(tmp_path, "--only", "data_pipeline", "--images-dir", str(tmp_path / "none"),
                      "--label-file", str(tmp_path / "none" / "label.txt"), "--quick")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "results" / "data_pipeline.json").read_text())
    assert "sample data not found" in result["skipped"] and not result["figures"]
    assert "skipped: sample data not found" in (tmp_path / "benchmarks.md").read_text()


@pytest.mark.skipif(not (SHARED / "data" / "icdar2015_sample").is_dir(),
                    reason="needs ../shared/data/icdar2015_sample next to the repository")
def test_smoke_run_on_one_image(tmp_path: Path) -> None:
    """Every fast section end to end on 1 image, 1 repeat; a section whose peer or model is missing on this
    machine must say so (skipped), never crash."""
    sections = ["postprocess", "data_pipeline", "train_step", "inference"]
    proc = _run_bench(tmp_path, "--only", ",".join(sections), "--quick", "--max-images", "1", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = (tmp_path / "benchmarks.md").read_text()
    for name in sections:
        result = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert result["skipped"] or result["figures"], name
        for figure in result["figures"]:
            assert figure["ours"] > 0 and figure["reference"] > 0, (name, figure)
        assert result["title"] in doc


@pytest.mark.parametrize("metrics, verdicts", [
    ({"hmean": 0.9778, "start_hmean": 0.9710}, [True, True]),
    ({"hmean": 0.90, "start_hmean": 0.95}, [True, False]),  # above 0.85 but below where it started
    ({"hmean": 0.80}, [False]),  # students from scratch: no starting weights to compare with
])
def test_default_run_quality_goals_read_from_the_evaluate_task(
    tmp_path: Path, metrics: dict, verdicts: list
) -> None:
    from bench.pipeline_run import evaluated, quality_figures

    task = tmp_path / "ppocrv3-det-2026-01-01" / "evaluate"
    task.mkdir(parents=True)
    artifact = {"name": "metrics", "metadata": {**metrics, "images": 20}}
    output = {"artifacts": {"metrics": {"artifacts": [artifact]}}}
    (task / "executor_output.json").write_text(json.dumps(output))
    figures = quality_figures(evaluated(tmp_path))
    assert [f.met for f in figures] == verdicts
    assert figures[0].ours == metrics["hmean"] and figures[0].reference == 0.85
