"""`det-model serve` in our cpu image: the released model exported on the host, mounted read-only at /model,
the port published on 127.0.0.1 only; V1 and V2 answers give the boxes `det-model infer` gives on the host,
and a bad request gets a 4xx.

Run with `make test-containers` (marker `containers`; builds the image first, ~minutes on 2 cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import requests
from support.serving import MODEL_NAME, SAMPLE_IMAGES, b64, export_released_student, free_port, needs_released

pytestmark = [pytest.mark.containers, needs_released]
IMAGES = sorted(SAMPLE_IMAGES.glob("*.jpg"))[:2] if SAMPLE_IMAGES.is_dir() else []
READY_TIMEOUT_S = 240  # paddle's start-up in a container on a loaded 2-core machine


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_released_student(tmp_path_factory.mktemp("container_model"))


@pytest.fixture(scope="module")
def offline(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """`det-model infer`'s records on the host for IMAGES, keyed by file name."""
    from det_model.cli import main

    folder = tmp_path_factory.mktemp("container_infer_images")
    for path in IMAGES:
        (folder / path.name).symlink_to(path.resolve())
    out = tmp_path_factory.mktemp("container_infer_out")
    assert main(["infer", "--model-dir", str(model_dir), "--image", str(folder), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {Path(r["image"]).name: r for r in records}


def _wait_ready(container, url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        container.reload()
        if container.status not in ("created", "running"):
            pytest.fail(f"container ended ({container.status}):\n{_logs(container)}")
        try:
            if requests.get(f"{url}/v2/health/ready", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"det-model serve in the container not ready after {READY_TIMEOUT_S}s:\n{_logs(container)}")


def _logs(container) -> str:
    return container.logs().decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def served(image: str, docker_host: str, model_dir: Path) -> Iterator[str]:
    """The server's base URL; the container is stopped and removed whatever happens."""
    import docker

    client = docker.DockerClient(base_url=docker_host)
    port = free_port()
    container = client.containers.run(
        image,
        ["det-model", "serve", "--model-dir", "/model", "--host", "0.0.0.0", "--port", "8080"],
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},  # reachable from this machine only
        volumes={str(model_dir): {"bind": "/model", "mode": "ro"}},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(container, url)
        yield url
    finally:
        try:
            container.stop(timeout=20)
        finally:
            container.remove(force=True)
            client.close()


def _same_as_offline(record: dict, expected: dict) -> None:
    assert record["boxes"] == expected["boxes"]
    np.testing.assert_allclose(record["scores"], expected["scores"], atol=1e-5)
    assert (record["height"], record["width"]) == (expected["height"], expected["width"])


def test_v1_in_the_container_gives_host_infer_boxes(served: str, offline: dict[str, dict]) -> None:
    path = IMAGES[0]
    body = {"instances": [{"b64": b64(path.read_bytes())}]}
    response = requests.post(f"{served}/v1/models/{MODEL_NAME}:predict", json=body, timeout=180)
    assert response.status_code == 200, response.text
    (record,) = response.json()["predictions"]
    assert record["boxes"], "the sample image has text: expected boxes"
    _same_as_offline(record, offline[path.name])


def test_v2_in_the_container_gives_host_infer_boxes(served: str, offline: dict[str, dict]) -> None:
    path = IMAGES[1]
    tensor = {"name": "image", "datatype": "BYTES", "shape": [1], "data": [b64(path.read_bytes())]}
    body = {"inputs": [tensor]}
    response = requests.post(f"{served}/v2/models/{MODEL_NAME}/infer", json=body, timeout=180)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("detections", "BYTES", [1])
    _same_as_offline(json.loads(output["data"][0]), offline[path.name])


def test_bad_request_in_the_container_gets_4xx(served: str) -> None:
    body = {"instances": [{"b64": b64(b"hello world")}]}
    response = requests.post(f"{served}/v1/models/{MODEL_NAME}:predict", json=body, timeout=60)
    assert response.status_code == 400, response.text
    assert "not a readable image" in response.text
    assert requests.get(f"{served}/v2/health/ready", timeout=10).ok
