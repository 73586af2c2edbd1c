"""6. Serving: `det-model serve` (KServe V1 REST on 127.0.0.1) under 1, 4 and 16 concurrent clients vs
`det-model infer`'s images/s on the same images (the released student, imported and exported as in section 1).

Offline: a worker process runs `det-model infer`'s loop (read_image + TextDetector.detect) over the images.
Served: the server runs in its own process with its default batching; clients are threads with keep-alive
HTTP sessions sending one base64 image per V1 request (bodies encoded before timing). Offline passes and
served levels alternate over a few rounds (the machine is shared and its load moves); each level is bounded
by a request count and a time limit. Goal: served images/s at 16 clients >= 0.8 x offline images/s.
Loopback only: the server binds 127.0.0.1 and the clients connect there.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import REPO_ROOT, BenchOptions, Figure, SectionSkipped, image_paths
from bench.inference import RELEASED_ONNX, export_in_subprocess

TITLE = "Serving: det-model serve (KServe V1 REST, loopback) vs det-model infer"
CONCURRENCY = (1, 4, 16)
LEVEL_TIMEOUT_S = 120.0
PAUSE_S = 0.5  # idle between phases: Paddle's OpenMP threads spin 200 ms after their last work (section 1)
HOST = "127.0.0.1"  # never anything else: the benchmark must not open a port beyond this machine


def offline_worker(folder: Path, images: list[Path]) -> None:
    """`det-model infer`'s per-image work (read_image + TextDetector.detect) over the images, once per line on
    stdin, printing the pass's seconds; in its own process so the client side holds no Paddle threads."""
    from det_model.inference.detector import TextDetector
    from det_model.inference.images import read_image

    detector = TextDetector(folder)
    for path in images:  # warm-up pass
        detector.detect(read_image(path))
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        for path in images:
            detector.detect(read_image(path))
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


class Offline:
    """The offline worker process: `timed_pass()` runs one pass over the images and returns its seconds."""

    def __init__(self, folder: Path, images: list[Path]) -> None:
        cmd = [sys.executable, "-m", "bench.serving", "--offline", str(folder)] + [str(p) for p in images]
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
        self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the offline worker exited with {self.process.wait()}")

    def timed_pass(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._answer()["seconds"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def run_level(url: str, bodies: list[bytes], clients: int, requests_total: int) -> dict:
    """`clients` threads share `requests_total` requests (bounded also by LEVEL_TIMEOUT_S)."""
    import requests

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests_total))
    lock = threading.Lock()
    deadline = time.monotonic() + LEVEL_TIMEOUT_S

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            tick = time.perf_counter()
            response = session.post(url, data=bodies[index % len(bodies)],
                                    headers={"content-type": "application/json"}, timeout=LEVEL_TIMEOUT_S)
            elapsed = time.perf_counter() - tick
            with lock:
                (latencies.append(elapsed) if response.ok else errors.append(response.text[:200]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests at {clients} clients, e.g. {errors[0]}")
    return {"clients": clients, "latencies": latencies, "seconds": wall}


def summarize(clients: int, runs: list[dict]) -> dict:
    """One level over all rounds: images/s = requests / seconds; p50 and p99 of every request's latency."""
    ordered = sorted(t for run in runs for t in run["latencies"])
    seconds = sum(run["seconds"] for run in runs)
    return {"clients": clients, "requests": len(ordered), "seconds": round(seconds, 2),
            "images/s": round(len(ordered) / seconds, 3),
            "p50 ms": round(statistics.median(ordered) * 1e3, 1),
            "p99 ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3, 1)}


def interleaved_rounds(folder: Path, images: list[Path], rounds: int, per_level: dict[int, int]) -> tuple:
    """`rounds` times: one offline pass, then each concurrency level against the server, with idle pauses in
    between, so the (shared, noisy) machine's load changes hit both sides alike."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from support.serving import start_server, stop_server  # the tests' start/stop, loopback only

    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(p.read_bytes()).decode()}]}).encode()
              for p in images]
    offline_s: list[float] = []
    runs: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
    offline = Offline(folder, images)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(folder, Path(tmp) / "serve.log")
        try:
            assert server.url.startswith(f"http://{HOST}:")
            run_level(server.v1(), bodies, 2, len(bodies))  # warm-up
            for _ in range(rounds):
                time.sleep(PAUSE_S)
                offline_s.append(offline.timed_pass())
                for clients in CONCURRENCY:
                    time.sleep(PAUSE_S)
                    runs[clients].append(run_level(server.v1(), bodies, clients, per_level[clients]))
        finally:
            stop_server(server)
            offline.close()
    return offline_s, runs


def run(options: BenchOptions) -> dict:
    if not RELEASED_ONNX.is_file():
        raise SectionSkipped(f"released model not found at {RELEASED_ONNX}")
    images = image_paths(options)
    notes: list[str] = []
    folder = export_in_subprocess(options.work_dir / "serving_student", notes, onnx=False)
    rounds = options.repeats or (1 if options.quick else 3)
    per_level = {c: (c if options.quick else max(len(images), 2 * c)) for c in CONCURRENCY}
    offline_s, runs = interleaved_rounds(folder, images, rounds, per_level)
    offline_ips = len(images) * len(offline_s) / sum(offline_s)
    levels = [summarize(c, runs[c]) for c in CONCURRENCY]
    at16 = levels[-1]
    figures = [Figure("served images/s at 16 clients (V1 REST, loopback) vs det-model infer images/s",
                      at16["images/s"], offline_ips, "images/s", ">= 0.8",
                      note=f"p50 {at16['p50 ms']} ms, p99 {at16['p99 ms']} ms at 16 clients")]
    rows = [{**level, "ratio vs offline": round(level["images/s"] / offline_ips, 3)} for level in levels]
    rows.append({"clients": "det-model infer (offline)", "requests": len(images) * len(offline_s),
                 "seconds": round(sum(offline_s), 2), "images/s": round(offline_ips, 3),
                 "p50 ms": "-", "p99 ms": "-", "ratio vs offline": 1.0})
    notes += [f"{len(images)} sample images (1280x720 photos -> 960x544 network input), one image per request. "
              f"{rounds} interleaved rounds, each: one offline pass over the images, then {per_level} requests "
              f"per concurrency level (each level also bounded by {LEVEL_TIMEOUT_S:.0f} s), {PAUSE_S} s idle "
              "between phases; totals over the rounds. Warm-up: one offline pass and one request per image.",
              "Server: `det-model serve` defaults (max batch 4, max delay 5 ms, 2 Paddle threads, oneDNN), bound "
              "to 127.0.0.1; the client threads run on the same 2 cores, so the served figure includes their load.",
              "Above 1.0 the served side gains from overlap: decoding, resizing and DB post-processing of some "
              "requests run in the server's thread pool while the forward thread runs others, where the offline "
              "loop does each image's steps one after another. On a machine shared with other jobs (see the load "
              "average below) a process with more runnable threads also gets a larger share of the cores, which "
              "favours the server further; on an idle machine expect a smaller margin."]
    return {"title": TITLE, "figures": figures, "tables": {"concurrency": rows}, "notes": notes}


if __name__ == "__main__":  # the offline worker: python -m bench.serving --offline FOLDER IMAGE...
    parser = argparse.ArgumentParser()
    parser.add_argument("--offline", type=Path, required=True)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args()
    offline_worker(args.offline, args.images)
