"""`det-model serve` in our cpu image: the released model exported on the host, mounted read-only at /model,
the port published on 127.0.0.1 only; V1 and V2 answers give the boxes `det-model infer` gives on the host,
and a bad request gets a 4xx.

Run with `make test-containers` (marker `containers`; builds the image first, ~minutes on 2 cores).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import requests
from support.serve_fixtures import SERVE_IMAGES
from support.serve_http import NotReady, assert_same_boxes, v1_body, v1_url, v2_body, v2_url, wait_ready
from support.serving import free_port, needs_released

pytestmark = [pytest.mark.containers, needs_released]
IMAGES = SERVE_IMAGES[:2]
READY_TIMEOUT_S = 240  # paddle's start-up in a container on a loaded 2-core machine


def _ended(container) -> str | None:
    container.reload()
    return None if container.status in ("created", "running") else f"ended ({container.status})"


def _logs(container) -> str:
    return container.logs().decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def served(image: str, docker_host: str, served_model: Path) -> Iterator[str]:
    """The server's base URL; the container is stopped and removed whatever happens."""
    import docker

    client = docker.DockerClient(base_url=docker_host)
    port = free_port()
    container = client.containers.run(
        image,
        ["det-model", "serve", "--model-dir", "/model", "--host", "0.0.0.0", "--port", "8080"],
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},  # reachable from this machine only
        volumes={str(served_model): {"bind": "/model", "mode": "ro"}},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, lambda: _ended(container), READY_TIMEOUT_S, poll_s=1)
        except NotReady as exc:
            pytest.fail(f"det-model serve in the container {exc}:\n{_logs(container)}")
        yield url
    finally:
        try:
            container.stop(timeout=20)
        finally:
            container.remove(force=True)
            client.close()


def test_v1_in_the_container_gives_host_infer_boxes(served: str, infer_records: dict[str, dict]) -> None:
    path = IMAGES[0]
    response = requests.post(v1_url(served), json=v1_body(path.read_bytes()), timeout=180)
    assert response.status_code == 200, response.text
    (record,) = response.json()["predictions"]
    assert record["boxes"], "the sample image has text: expected boxes"
    assert_same_boxes(record, infer_records[path.name])


def test_v2_in_the_container_gives_host_infer_boxes(served: str, infer_records: dict[str, dict]) -> None:
    path = IMAGES[1]
    response = requests.post(v2_url(served), json=v2_body(path.read_bytes()), timeout=180)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("detections", "BYTES", [1])
    assert_same_boxes(json.loads(output["data"][0]), infer_records[path.name])


def test_bad_request_in_the_container_gets_4xx(served: str) -> None:
    response = requests.post(v1_url(served), json=v1_body(b"hello world"), timeout=60)
    assert response.status_code == 400, response.text
    assert "not a readable image" in response.text
    assert requests.get(f"{served}/v2/health/ready", timeout=10).ok
