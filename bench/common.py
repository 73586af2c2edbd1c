"""Shared pieces of the benchmark sections: paths, sample data, machine/version facts, timing, results.

Every figure is a ratio of two things measured side by side in the same run (interleaved repeats, medians),
because the machines are shared and noisy; absolute times are printed for context only.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()
SAMPLE_DIR = SHARED_DIR / "data" / "icdar2015_sample"
RELEASED_ONNX = SHARED_DIR / "models" / "ch_PP-OCRv3_det_infer.onnx"
CACHE_DIR = REPO_ROOT / "bench" / ".cache"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
CONFIG_DIR = REPO_ROOT / "configs" / "det" / "ch_PP-OCRv3"

VERSION_PACKAGES = (
    "paddlepaddle", "numpy", "opencv-python-headless", "onnxruntime", "paddle2onnx", "shapely", "pyclipper", "kfp",
)


class SectionSkipped(Exception):
    """A section cannot run here (missing data, model or peer); the message says what is missing."""


@dataclass
class BenchOptions:
    """Command-line knobs shared by every section."""

    quick: bool = False  # fewer images/samples/repeats: a smoke run, not a measurement
    images_dir: Path = SAMPLE_DIR / "images"
    label_file: Path = SAMPLE_DIR / "label.txt"
    work_dir: Path = CACHE_DIR / "work"
    max_images: Optional[int] = None  # cut the sample set (the smoke test uses 1)
    repeats: Optional[int] = None  # override each section's repeat count
    profile: bool = False  # add a cProfile top-N of our side to the results
    full_size: bool = False  # train_step: every recipe at batch 8, 640 x 640 (tens of GiB for the teachers)


@dataclass
class Figure:
    """One goal line: ours vs a reference, as a ratio, and whether the goal holds."""

    name: str
    ours: float
    reference: float
    unit: str
    goal: str  # e.g. "<= 1.0" on the ratio ours / reference; "" = informational, no goal
    ratio: Optional[float] = None
    met: Optional[bool] = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.reference:
            self.ratio = self.ours / self.reference
        if self.met is None and self.ratio is not None and self.goal:
            self.met = goal_met(self.ratio, self.goal)


def goal_met(value: float, goal: str) -> bool:
    """`goal` is "<= x", "< x", ">= x" or "> x"."""
    op, _, bound = goal.partition(" ")
    checks: dict[str, Callable[[float, float], bool]] = {
        "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b,
    }
    if op not in checks:
        raise ValueError(f"goal {goal!r}: expected one of {sorted(checks)} followed by a number")
    return checks[op](value, float(bound))


@dataclass
class SectionResult:
    """What one section writes to bench/results/<name>.json and contributes to docs/benchmarks.md."""

    name: str
    title: str
    command: str
    machine: dict[str, Any]
    versions: dict[str, str]
    started: str
    seconds: float
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: Optional[str] = None
    quick: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SectionResult":
        figures = [Figure(**f) for f in data.pop("figures", [])]
        return cls(figures=figures, **data)


# ------------------------------------------------------------------------------------------ facts


def machine_info() -> dict[str, Any]:
    """CPU model, logical cores, cores this process may use, memory, OS and load average."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    found = {}
    for name in VERSION_PACKAGES + extra:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        found["det-model (git)"] = commit + ("+dirty" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        pass
    return found


# ------------------------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class Sample:
    """One sample image: its path, encoded bytes and PaddleOCR-format label JSON."""

    path: Path
    data: bytes
    label: str


def load_samples(options: BenchOptions) -> list[Sample]:
    """The sample images that have a label line, in label-file order (raises SectionSkipped if absent)."""
    if not options.label_file.is_file() or not options.images_dir.is_dir():
        raise SectionSkipped(f"sample data not found at {options.label_file.parent} (needs ../shared next to the repo)")
    samples = []
    for line_no, line in enumerate(options.label_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rel, sep, label = line.partition("\t")
        if not sep:
            raise ValueError(f"{options.label_file}:{line_no}: expected '<path>\\t<json>'")
        path = options.label_file.parent / rel
        if path.is_file():
            samples.append(Sample(path, path.read_bytes(), label))
    if not samples:
        raise SectionSkipped(f"no image named in {options.label_file} exists under {options.label_file.parent}")
    return samples[: options.max_images] if options.max_images else samples


def image_paths(options: BenchOptions) -> list[Path]:
    if not options.images_dir.is_dir():
        raise SectionSkipped(f"sample images not found at {options.images_dir} (needs ../shared next to the repo)")
    paths = sorted(p for p in options.images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise SectionSkipped(f"no image in {options.images_dir}")
    return paths[: options.max_images] if options.max_images else paths


# ------------------------------------------------------------------------------------------- timing


def interleaved(runners: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1,
                pause_s: float = 0.0) -> dict[str, list[float]]:
    """Seconds per call of each runner, alternating A, B, A, B ... so load changes hit both alike.

    The order within a round alternates too (A B, B A, ...), so neither side always runs on a warm cache.
    `pause_s` (untimed) before each call lets thread pools of the previous runner go idle: Paddle's OpenMP
    workers (libiomp5) spin for KMP_BLOCKTIME = 200 ms after each parallel region and would otherwise take
    the cores from the next runner.
    """
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            runners[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            if pause_s:
                time.sleep(pause_s)
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    """min-max as a short text, for the tables."""
    return f"{min(values) * 1e3:.2f}-{max(values) * 1e3:.2f}" if values else "-"


def vm_hwm_mib() -> Optional[float]:
    """Peak resident set size of this process (VmHWM), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_json_subprocess(cmd: list[str], *, env: Optional[dict[str, str]] = None, timeout: float = 3600,
                        cwd: Path = REPO_ROOT) -> dict[str, Any]:
    """Run a worker that prints one JSON object as its last stdout line; errors carry its stderr tail."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON result; stdout tail: {proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def single_thread_env() -> dict[str, str]:
    """Environment for 'one thread' measurements (BLAS/OpenMP pools and OpenCV)."""
    return {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


def command_line(section: str, options: BenchOptions) -> str:
    parts = [f"{Path(sys.executable).relative_to(REPO_ROOT) if sys.executable.startswith(str(REPO_ROOT)) else 'python'}",
             "-m", "bench", "--only", section]
    if options.quick:
        parts.append("--quick")
    if options.max_images:
        parts += ["--max-images", str(options.max_images)]
    if options.repeats:
        parts += ["--repeats", str(options.repeats)]
    if options.full_size and section == "train_step":
        parts.append("--full-size")
    if options.profile:
        parts.append("--profile")
    return " ".join(parts)


def profile_top(func: Callable[[], Any], limit: int = 15) -> list[dict[str, Any]]:
    """cProfile `func` once; the `limit` functions with the most cumulative time (stdlib, no extra tool)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(func)
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    rows = []
    for (filename, line, funcname), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(filename).name}:{line}({funcname})", "calls": calls,
                     "tottime_ms": round(tottime * 1e3, 2), "cumtime_ms": round(cumtime * 1e3, 2),
                     "self_share": round(tottime / total, 3)})
    rows.sort(key=lambda r: r["tottime_ms"], reverse=True)
    return rows[:limit]
