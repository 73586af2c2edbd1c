"""6. Serving: `det-model serve` (KServe V1 REST on 127.0.0.1) under 1, 4 and 16 concurrent clients vs
`det-model infer`'s images/s on the same images (the released student, imported and exported as in section 1).

Offline: one process runs `det-model infer`'s loop (read_image + TextDetector.detect) over the sample images.
Served: the server runs in its own process with its default batching; clients are threads with keep-alive
HTTP sessions sending one base64 image per V1 request (bodies encoded before timing). Each level is bounded
by a request count and a time limit. Goal: served images/s at 16 clients >= 0.8 x offline images/s.
Loopback only: the server binds 127.0.0.1 and the clients connect there.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import BenchOptions, Figure, SectionSkipped, image_paths, run_json_subprocess
from bench.inference import RELEASED_ONNX, export_in_subprocess

TITLE = "Serving: det-model serve (KServe V1 REST, loopback) vs det-model infer"
CONCURRENCY = (1, 4, 16)
LEVEL_TIMEOUT_S = 120.0
HOST = "127.0.0.1"  # never anything else: the benchmark must not open a port beyond this machine


def offline_images_per_s(folder: Path, images: list[Path], passes: int) -> dict:
    """`det-model infer`'s per-image work (read_image + detect) over the images, `passes` times after one
    warm-up pass; run in a worker process so the client side below holds no Paddle threads."""
    from det_model.inference import TextDetector, read_image

    detector = TextDetector(folder)
    for path in images:
        detector.detect(read_image(path))
    start = time.perf_counter()
    for _ in range(passes):
        for path in images:
            detector.detect(read_image(path))
    seconds = time.perf_counter() - start
    return {"images": passes * len(images), "seconds": seconds, "images_per_s": passes * len(images) / seconds}


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
    ordered = sorted(latencies)
    return {"clients": clients, "requests": len(ordered), "seconds": round(wall, 2),
            "images/s": round(len(ordered) / wall, 2),
            "p50 ms": round(statistics.median(ordered) * 1e3, 1),
            "p99 ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3, 1)}


def served_levels(folder: Path, images: list[Path], per_level: dict[int, int]) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))
    from serving_fixtures import start_server, stop_server  # the tests' start/stop, loopback only

    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(p.read_bytes()).decode()}]}).encode()
              for p in images]
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(folder, Path(tmp) / "serve.log")
        try:
            assert server.url.startswith(f"http://{HOST}:")
            url = server.v1()
            run_level(url, bodies, 2, len(bodies))  # warm-up: first forward passes of each shape
            return [run_level(url, bodies, clients, per_level[clients]) for clients in CONCURRENCY]
        finally:
            stop_server(server)


def run(options: BenchOptions) -> dict:
    if not RELEASED_ONNX.is_file():
        raise SectionSkipped(f"released model not found at {RELEASED_ONNX}")
    images = image_paths(options)
    notes: list[str] = []
    folder = export_in_subprocess(options.work_dir / "serving_student", notes, onnx=False)
    passes = 1 if options.quick else 3
    offline = run_json_subprocess([sys.executable, "-m", "bench.serving", "--offline", str(folder),
                                   "--passes", str(passes)] + [str(p) for p in images], timeout=1800)
    per_level = {c: (4 if options.quick else max(3 * len(images), 4 * c)) for c in CONCURRENCY}
    levels = served_levels(folder, images, per_level)
    at16 = next(level for level in levels if level["clients"] == 16)
    figures = [Figure("served images/s at 16 clients (V1 REST, loopback) vs det-model infer images/s",
                      at16["images/s"], offline["images_per_s"], "images/s", ">= 0.8",
                      note=f"p99 at 16 clients {at16['p99 ms']} ms")]
    rows = [{**level, "ratio vs offline": round(level["images/s"] / offline["images_per_s"], 3)} for level in levels]
    rows.append({"clients": "det-model infer (offline)", "requests": offline["images"],
                 "seconds": round(offline["seconds"], 2), "images/s": round(offline["images_per_s"], 2),
                 "p50 ms": "-", "p99 ms": "-", "ratio vs offline": 1.0})
    notes += [f"{len(images)} sample images (1280x720 photos -> 960x544 network input), one image per request; "
              f"offline: {passes} passes after a warm-up pass; served: {per_level} requests per level "
              f"(time limit {LEVEL_TIMEOUT_S:.0f} s), after a warm-up of one request per image.",
              "Server: `det-model serve` defaults (max batch 4, max delay 5 ms, 2 Paddle threads, oneDNN); the "
              "client threads run on the same 2 cores, so the served figure includes the load they add."]
    return {"title": TITLE, "figures": figures, "tables": {"concurrency": rows}, "notes": notes}


if __name__ == "__main__":  # the offline worker: python -m bench.serving --offline FOLDER IMAGE...
    parser = argparse.ArgumentParser()
    parser.add_argument("--offline", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args()
    print(json.dumps(offline_images_per_s(args.offline, args.images, args.passes)))
