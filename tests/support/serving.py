"""Shared pieces of the serving tests (and of bench/serving.py): the released student exported once, and `det-model serve` started for
real in a subprocess on 127.0.0.1 (a free port), stopped with SIGTERM at the end of the module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from support.paths import RELEASED_ONNX, REPO, SAMPLE_DIR
from support.serve_http import NotReady, v1_url, v2_url, wait_ready

SAMPLE_IMAGES = SAMPLE_DIR / "images"
STUDENT = "ch_PP-OCRv3_det_student.yml"

needs_released = pytest.mark.skipif(
    not (RELEASED_ONNX.is_file() and SAMPLE_IMAGES.is_dir()),
    reason=f"needs the released model {RELEASED_ONNX} and sample images {SAMPLE_IMAGES} (../shared)",
)


def export_released_student(tmp: Path) -> Path:
    """Released ONNX -> student .pdparams (import_onnx) -> inference folder (export_model), as users do."""
    from det_model.config import config_path, load_config
    from det_model.export import export_model
    from det_model.modeling.onnx_import import import_onnx

    import_onnx(RELEASED_ONNX, tmp / "student")
    cfg = load_config(
        config_path(STUDENT),
        [
            f"Global.pretrained_model={tmp / 'student.pdparams'}",
            f"Global.save_inference_dir={tmp / 'inference'}",
            "Global.use_gpu=false",
            "Global.export_onnx=false",
        ],
    )
    return Path(next(iter(export_model(cfg).values())))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def v1(self) -> str:
        return v1_url(self.url)

    def v2(self) -> str:
        return v2_url(self.url)

    def alive(self) -> bool:
        return self.process.poll() is None and requests.get(f"{self.url}/v2/health/ready", timeout=10).ok


def start_server(model_dir: Path, log: Path, *extra: str, timeout_s: float = 180) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "det_model", "serve", "--model-dir", str(model_dir), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *extra]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ))
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_ready(server.url, lambda: None if process.poll() is None else f"exited with {process.returncode}",
                   timeout_s)
    except NotReady as exc:
        stop_server(server)  # nothing to stop when it exited
        raise RuntimeError(f"det-model serve {exc}:\n{log.read_text()[-3000:]}") from None
    return server


def stop_server(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()
