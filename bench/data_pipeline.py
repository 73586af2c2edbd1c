"""3. Training data pipeline (read, decode, augment, crop, shrink and border maps, normalise) in images/s, one
thread: our `SimpleDataSet.__getitem__` vs PaddleOCR 2.7.3's transforms (in their own numpy < 2 venv).

Both sides run the recipe's `Train.dataset.transforms` list from the same YAML (the cml chain, with
CopyPaste, and the student chain without it) on the sample images, sample k using image k mod 13 and seed
base + k; IaaAugment's random resize makes the work per sample vary, so >= 260 samples. Blocks of 13 samples
alternate between the two sides. Also PaddleOCR's eval pre-processing (736 / min resize + normalise + CHW).
Goal: >= 2x PaddleOCR's images/s.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    CONFIG_DIR, BenchOptions, Figure, SectionSkipped, load_samples, median, profile_top, single_thread_env, spread,
)
from bench.peer import PADDLEOCR_VERSION, paddleocr_root, peer_python, peer_versions

TITLE = "Training data pipeline vs PaddleOCR's transforms"
RECIPES = {"cml": "ch_PP-OCRv3_det_cml.yml", "student": "ch_PP-OCRv3_det_student.yml"}
SEED = 1024
EVAL_RESIZE = {"limit_side_len": 736, "limit_type": "min"}


class PeerWorker:
    """The peer venv running bench/peer_transforms.py; one JSON job per line, one JSON answer per line."""

    def __init__(self) -> None:
        python = peer_python()
        self.versions = peer_versions(python)
        import os

        script = Path(__file__).with_name("peer_transforms.py")
        self.proc = subprocess.Popen([str(python), str(script), str(paddleocr_root())], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, **single_thread_env()})
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer worker exited with {self.proc.wait()} (its stderr is above)")
        return json.loads(line)

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


class TimedOp:
    """Wraps one of our ops to add its time to a shared per-op table."""

    def __init__(self, op: Any, table: dict[str, float]) -> None:
        self.op, self.table, self.name = op, table, type(op).__name__
        table.setdefault(self.name, 0.0)

    def __call__(self, sample: dict[str, Any], rng: Any) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return self.op(sample, rng)
        finally:
            self.table[self.name] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:  # ext_data_num etc.
        return getattr(self.op, name)


def our_dataset(recipe: str, options: BenchOptions, samples, per_op: dict[str, float]):
    """Our SimpleDataSet over exactly `samples` (a label file of their lines, written to the work folder)."""
    from det_model.config import load_config
    from det_model.data.dataset import SimpleDataSet
    from det_model.data.transforms import Compose

    data_dir = options.label_file.parent
    label_file = options.work_dir / "data_pipeline_labels.txt"
    label_file.parent.mkdir(parents=True, exist_ok=True)
    label_file.write_text("".join(f"{s.path.relative_to(data_dir)}\t{s.label}\n" for s in samples), encoding="utf-8")
    cfg = load_config(CONFIG_DIR / RECIPES[recipe], [
        f"Train.dataset.data_dir={data_dir}/", f"Train.dataset.label_file_list=['{label_file}']",
    ])
    dataset = SimpleDataSet(cfg.Train.dataset, mode="train", seed=SEED, strict=True)
    dataset.transforms = Compose([TimedOp(op, per_op) for op in dataset.transforms.ops])
    return dataset


def run_ours(dataset, start: int, count: int, n_images: int) -> list[float]:
    times = []
    for k in range(start, start + count):
        dataset.set_epoch(k // n_images)
        tick = time.perf_counter()
        loaded = dataset[k % n_images]
        times.append(time.perf_counter() - tick)
        if loaded.fields is None:
            raise RuntimeError(f"our pipeline skipped sample {k}: {loaded.skips}")
    return times


def our_eval_preprocess(images: list) -> float:
    """Seconds per image of DetResizeForTest (736/min) + NormalizeImage + ToCHWImage on decoded images."""
    import numpy as np

    from det_model.data.transforms import DetResizeForTest, NormalizeImage, ToCHWImage

    ops = [DetResizeForTest(**EVAL_RESIZE), NormalizeImage(), ToCHWImage()]
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for image in images:
        sample = {"image": image}
        for op in ops:
            sample = op(sample, rng)
    return (time.perf_counter() - start) / len(images)


def compare_chain(recipe: str, options: BenchOptions, worker: PeerWorker, samples, count: int) -> dict[str, Any]:
    chain = yaml.safe_load((CONFIG_DIR / RECIPES[recipe]).read_text())["Train"]["dataset"]["transforms"]
    peer_samples = [{"path": str(s.path), "label": s.label} for s in samples]
    ours_per_op: dict[str, float] = {}
    dataset = our_dataset(recipe, options, samples, ours_per_op)
    if len(dataset) != len(samples):
        raise RuntimeError(f"our dataset has {len(dataset)} samples, the label file {len(samples)}")
    block = len(samples)
    run_ours(dataset, 0, min(block, 3), len(samples))  # warm-up (imports, first-call caches)
    worker.ask({"samples": peer_samples, "chain": chain, "start": 0, "count": min(block, 3), "seed": SEED})
    ours_per_op.update({k: 0.0 for k in ours_per_op})
    ours_times, peer_times, peer_per_op, dropped = [], [], {}, 0
    for index, start in enumerate(range(0, count, block)):
        size = min(block, count - start)
        job = {"samples": peer_samples, "chain": chain, "start": start, "count": size, "seed": SEED}
        if index % 2 == 0:
            answer = worker.ask(job)["train"]
            ours_times += run_ours(dataset, start, size, len(samples))
        else:
            ours_times += run_ours(dataset, start, size, len(samples))
            answer = worker.ask(job)["train"]
        peer_times += answer["per_sample_s"]
        dropped += answer["dropped"]
        for name, seconds in answer["per_op_s"].items():
            peer_per_op[name] = peer_per_op.get(name, 0.0) + seconds
    ours_per_op = {**ours_per_op, "read + ext_data": sum(ours_times) - sum(ours_per_op.values())}  # snapshot
    profile = profile_top(lambda: run_ours(dataset, 0, block, len(samples))) if options.profile else None
    return {"ours": ours_times, "peer": peer_times, "ours_per_op": ours_per_op, "peer_per_op": peer_per_op,
            "dropped": dropped, "profile": profile}


def per_op_rows(result: dict[str, Any], count: int) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(list(result["peer_per_op"]) + list(result["ours_per_op"])))
    rows = []
    peer_total, ours_total = sum(result["peer"]), sum(result["ours"])
    for name in names:
        peer = result["peer_per_op"].get(name)
        ours = result["ours_per_op"].get(name)
        rows.append({"op": name,
                     "PaddleOCR ms/sample": None if peer is None else round(peer / count * 1e3, 2),
                     "PaddleOCR share": None if peer is None else f"{peer / peer_total:.0%}",
                     "ours ms/sample": None if ours is None else round(ours / count * 1e3, 2),
                     "ours share": None if ours is None else f"{ours / ours_total:.0%}"})
    return rows


def run(options: BenchOptions) -> dict:
    import cv2

    cv2.setNumThreads(1)
    samples = load_samples(options)
    count = options.repeats or (len(samples) * (2 if options.quick else 20))
    try:
        worker = PeerWorker()
    except (RuntimeError, OSError) as exc:
        raise SectionSkipped(f"PaddleOCR's transforms could not be started in the peer venv: {exc}") from exc
    figures, tables, notes = [], {"per-sample spread (ms)": []}, []
    try:
        for recipe in RECIPES:
            result = compare_chain(recipe, options, worker, samples, count)
            ours_rate, peer_rate = len(result["ours"]) / sum(result["ours"]), len(result["peer"]) / sum(result["peer"])
            figures.append(Figure(f"{recipe} train chain, images/s (1 thread, {count} samples)", ours_rate,
                                  peer_rate, "images/s", ">= 2"))
            tables[f"{recipe} chain: time per op"] = per_op_rows(result, count)
            tables["per-sample spread (ms)"].append(
                {"chain": recipe, "ours median": round(median(result["ours"]) * 1e3, 2),
                 "ours min-max": spread(result["ours"]), "PaddleOCR median": round(median(result["peer"]) * 1e3, 2),
                 "PaddleOCR min-max": spread(result["peer"]), "PaddleOCR samples dropped": result["dropped"]})
            if result["profile"]:
                tables[f"cProfile of ours, {recipe} chain (top self time)"] = result["profile"]
        images = [cv2.imread(str(s.path)) for s in samples]
        peer_samples = [{"path": str(s.path), "label": s.label} for s in samples]
        repeats = 3 if options.quick else 10
        ours_eval, peer_eval = [], []
        for index in range(repeats):
            job = {"samples": peer_samples, "eval_resize": EVAL_RESIZE, "eval_repeats": 1}
            if index % 2 == 0:
                peer_eval += worker.ask(job)["eval_s"]
                ours_eval.append(our_eval_preprocess(images))
            else:
                ours_eval.append(our_eval_preprocess(images))
                peer_eval += worker.ask(job)["eval_s"]
        figures.append(Figure("eval pre-processing 736/min + normalise + CHW (ms/image, decoded input)",
                              median(ours_eval) * 1e3, median(peer_eval) * 1e3, "ms", "",
                              note="no goal in the issue"))
    finally:
        worker.close()
    notes += [
        f"Peer: PaddleOCR {PADDLEOCR_VERSION}'s `ppocr/data/imaug` ops (imgaug {worker.hello.get('imgaug')}, numpy "
        f"{worker.hello.get('numpy')}, OpenCV {worker.hello.get('opencv')}) in `bench/.cache/peer-venv`, emulating "
        "`SimpleDataSet.__getitem__` (file read, ext_data for CopyPaste, the ops); ours: "
        "`det_model.data.dataset.SimpleDataSet.__getitem__` with the same YAML transforms list.",
        "Per-op times include a timer wrapper on both sides. Our IaaAugment and EastRandomCropData only compose "
        "one affine matrix; the single warp runs in the first op that needs pixels (MakeBorderMap needs none, so "
        "usually NormalizeImage/KeepKeys), so compare the totals, not single ops.",
        "One thread: cv2.setNumThreads(1) on both sides, OMP/BLAS threads 1 in the peer.",
    ]
    return {"title": TITLE, "figures": figures, "tables": tables, "notes": notes,
            "versions": {f"peer {k}": v for k, v in worker.versions.items()}}
