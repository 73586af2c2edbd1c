"""5. The local pipeline's default run (`python -m pipelines run-local`, kfp.local SubprocessRunner on CPU:
the released detector fine-tuned on synthetic text, as `make run`; it needs `make released`). Goals: <= 10
minutes on 2 cores, and an exported student whose hmean on the held-out images is >= 0.85 and not below the
starting weights' hmean on the same images (both measured by the run's evaluate task).
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO_ROOT, BenchOptions, Figure, SectionSkipped

TITLE = "Local pipeline run (kfp.local, default arguments)"
GOAL_SECONDS = 600.0
GOAL_HMEAN = 0.85
QUICK_SETS = ("teacher_epochs=1", "student_epochs=1")
MAXRSS_MARK = "BENCH_DESCENDANTS_MAXRSS_KIB="
# Runs the command and reports the largest peak RSS among ITS descendants (RUSAGE_CHILDREN of this bench
# process would also count the earlier sections' workers).
WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
           f"print('{MAXRSS_MARK}%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); "
           "sys.exit(rc)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - Executing task '([^']+)'")
FINISHED = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - \w+ - Task '([^']+)' finished with status (\w+)")


def task_times(log_text: str) -> list[dict]:
    """[{task, status, seconds}] from kfp.local's "Executing task" / "finished with status" log lines."""
    def seconds(h: str, m: str, s: str) -> float:
        return int(h) * 3600 + int(m) * 60 + float(s)

    started: dict[str, float] = {}
    rows = []
    for line in ANSI.sub("", log_text).splitlines():
        if match := STARTED.match(line):
            started[match[4]] = seconds(match[1], match[2], match[3])
        elif match := FINISHED.match(line):
            took = seconds(match[1], match[2], match[3]) - started.get(match[4], float("nan"))
            rows.append({"task": match[4], "status": match[5], "seconds": round(took % 86400, 1)})
    return rows


def evaluated(root: Path) -> dict[str, float]:
    """The evaluate task's metrics (hmean, start_hmean, ...) of the one run under `root`."""
    outputs = sorted(root.glob("*/evaluate/executor_output.json"))
    if not outputs:
        raise SectionSkipped(f"no evaluate/executor_output.json under {root}")
    artifacts = json.loads(outputs[-1].read_text())["artifacts"]["metrics"]["artifacts"]
    return {k: float(v) for k, v in artifacts[0]["metadata"].items()}


def quality_figures(metrics: dict[str, float]) -> list[Figure]:
    hmean = metrics["hmean"]
    name = f"exported student's hmean on the held-out images vs {GOAL_HMEAN}"
    figures = [Figure(name, hmean, GOAL_HMEAN, "", ">= 1.0")]
    if "start_hmean" in metrics:
        figures.append(Figure("exported student's hmean vs its starting weights' (same images)", hmean,
                              metrics["start_hmean"], "", ">= 1.0"))
    return figures


def run(options: BenchOptions) -> dict:
    root = options.work_dir / "pipeline_run"
    if root.exists():
        shutil.rmtree(root)
    sets = [arg for item in (QUICK_SETS if options.quick else ()) for arg in ("--set", item)]
    cmd = [sys.executable, "-m", "pipelines", "run-local", "--output-root", str(root), *sets]
    log_path = options.work_dir / "pipeline_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], cwd=REPO_ROOT, stdout=log,
                              stderr=subprocess.STDOUT, timeout=3 * 3600)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    tasks = task_times(text)
    if proc.returncode != 0:
        errors = [line.strip() for line in ANSI.sub("", text).splitlines() if "Error:" in line]
        raise SectionSkipped(
            f"the local pipeline FAILED after {seconds:.0f} s (exit {proc.returncode}); tasks: "
            + ", ".join(f"{t['task']} {t['status']} {t['seconds']} s" for t in tasks)
            + f"; first error: {errors[0] if errors else '?'}; log: {log_path.relative_to(REPO_ROOT)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figure = Figure("default local run, wall time" + (" (quick: 1 epoch each)" if options.quick else ""),
                    seconds, GOAL_SECONDS, "s", "<= 1.0")
    marks = [line for line in text.splitlines() if line.startswith(MAXRSS_MARK)]
    peak = f"{int(marks[-1][len(MAXRSS_MARK):]) / 1024:.0f} MiB" if marks else "unknown"
    shown = " ".join(["python -m pipelines run-local", *sets])
    notes = [f"`{shown}` (output root under bench/.cache) in a child process; CPU time of all its descendants "
             f"{cpu:.0f} s (x{cpu / seconds:.2f} of wall time); largest peak RSS among them {peak}; "
             f"log in {log_path.relative_to(REPO_ROOT)}."]
    figures = [figure] + ([] if options.quick else quality_figures(evaluated(root)))
    return {"title": TITLE, "figures": figures, "tables": {"tasks": tasks} if tasks else {}, "notes": notes}
