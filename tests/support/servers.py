"""Fixture plugin: an S3-protocol server (moto), a flaky HTTP server and a static file server on loopback
(fetch, pretrained and component tests)."""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server in a subprocess on a free loopback port (not MinIO: none installs here)."""
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("moto_server did not open its port within 20 s")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point fetch's minio client at the loopback server through the same env vars the k8s Secret fills."""
    monkeypatch.setenv("MINIO_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("MINIO_SECURE", "false")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return s3_endpoint


class FlakyServer:
    """Serves `payload` at any path after failing the first `failures` requests with `status`."""

    def __init__(self, payload: bytes, failures: int, status: int = 503):
        self.payload, self.failures, self.status, self.requests = payload, failures, status, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                server.requests += 1
                if server.requests <= server.failures:
                    self.send_error(server.status)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()
                self.wfile.write(server.payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky_server() -> Iterator[type[FlakyServer]]:
    started: list[FlakyServer] = []

    def start(payload: bytes, failures: int, status: int = 503) -> FlakyServer:
        started.append(FlakyServer(payload, failures, status))
        return started[-1]

    yield start  # type: ignore[misc]
    for server in started:
        server.close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(folder, base URL): a plain HTTP server on loopback serving the folder's files (404 when absent)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietFiles, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
