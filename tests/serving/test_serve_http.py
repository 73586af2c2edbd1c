"""`det-model serve` started for real on 127.0.0.1 and queried over HTTP: V1 (requests) and V2 (KServe's own
InferenceRESTClient) give `det-model infer`'s boxes; concurrent requests are batched; health and metrics
answer; every bad request gets a 4xx with a message and leaves the server serving."""

from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image
from support.serve_fixtures import SERVE_IMAGES as IMAGES
from support.serve_http import MODEL_NAME, assert_same_boxes, b64, v1_body
from support.serving import SAMPLE_IMAGES, needs_released, start_server, stop_server

pytestmark = needs_released
MAX_IMAGES, MAX_IMAGE_MB = 4, 2  # small limits so the limit cases stay small


@pytest.fixture(scope="module")
def server(served_model: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve_log") / "serve.log"
    extra = ["--image-root", str(SAMPLE_IMAGES), "--max-batch-size", "4", "--max-delay-ms", "20"]
    extra += ["--max-images", str(MAX_IMAGES), "--max-image-mb", str(MAX_IMAGE_MB)]
    server = start_server(served_model, log, *extra)
    yield server
    assert stop_server(server) == 0, log.read_text()[-3000:]


def _same_as_offline(record: dict, expected: dict) -> None:
    assert_same_boxes(record, expected)
    assert (record["input_height"], record["input_width"]) == (544, 960)  # 1280x720 at 960 / max


def test_v1_batch_of_images_gives_det_model_infer_boxes(server, infer_records) -> None:
    response = requests.post(server.v1(), json=v1_body(*(p.read_bytes() for p in IMAGES)), timeout=120)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(IMAGES)
    assert sum(len(p["boxes"]) for p in predictions) > 0  # real text, real boxes
    for path, record in zip(IMAGES, predictions):
        _same_as_offline(record, infer_records[path.name])


def test_v2_with_kserve_client_gives_det_model_infer_boxes(server, infer_records) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    data = [b64(p.read_bytes()) for p in IMAGES[:2]]
    request = InferRequest(
        model_name=MODEL_NAME,
        infer_inputs=[InferInput("image", [len(data)], "BYTES", data)],
        request_id="r-1",
    )

    async def call():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        try:
            return await client.infer(server.url, request, model_name=MODEL_NAME)
        finally:
            await client.close()

    response = asyncio.run(call())
    (output,) = response.outputs
    assert (output.name, output.datatype, output.shape) == ("detections", "BYTES", [2])
    for path, text in zip(IMAGES, output.data):
        _same_as_offline(json.loads(text), infer_records[path.name])


def test_file_uri_under_image_root_is_read(server, infer_records) -> None:
    path = IMAGES[0]
    body = {"instances": [{"uri": path.resolve().as_uri()}, {"uri": path.name}]}
    response = requests.post(server.v1(), json=body, timeout=120)
    assert response.status_code == 200, response.text
    for record in response.json()["predictions"]:
        _same_as_offline(record, infer_records[path.name])


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_concurrent_requests_are_batched_and_keep_their_own_boxes(server, infer_records) -> None:
    before = requests.get(f"{server.url}/metrics", timeout=10).text
    order = [IMAGES[i % len(IMAGES)] for i in range(12)]

    def one(path: Path) -> dict:
        response = requests.post(server.v1(), json=v1_body(path.read_bytes()), timeout=120)
        assert response.status_code == 200, response.text
        return response.json()["predictions"][0]

    with ThreadPoolExecutor(12) as pool:
        records = list(pool.map(one, order))
    for path, record in zip(order, records):
        _same_as_offline(record, infer_records[path.name])
    after = requests.get(f"{server.url}/metrics", timeout=10).text
    passes = _metric(after, "det_model_batch_size_count") - _metric(before, "det_model_batch_size_count")
    inputs = _metric(after, "det_model_batch_size_sum") - _metric(before, "det_model_batch_size_sum")
    assert inputs == 12
    assert passes < 12, "no two concurrent requests shared a forward pass"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/", {"status": "alive"}),
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        (f"/v1/models/{MODEL_NAME}", {"name": MODEL_NAME, "ready": True}),
        (f"/v2/models/{MODEL_NAME}/ready", {"name": MODEL_NAME, "ready": True}),
    ],
)
def test_health_routes(server, path: str, expected: dict) -> None:
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200
    assert expected.items() <= response.json().items()


def test_v2_model_metadata_names_the_tensors(server) -> None:
    response = requests.get(f"{server.url}/v2/models/{MODEL_NAME}", timeout=10)
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [("image", "BYTES"), ("uri", "BYTES")]
    assert [(t["name"], t["datatype"]) for t in metadata["outputs"]] == [("detections", "BYTES")]


def test_prometheus_metrics(server) -> None:
    requests.post(server.v1(), json=v1_body(IMAGES[0].read_bytes()), timeout=120)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert f'request_predict_seconds_count{{model_name="{MODEL_NAME}"}}' in text
    assert _metric(text, "det_model_images_total") >= 1


# ------------------------------------------------------------------------------------- bad requests


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def _v1(*instances) -> dict:
    return {"json": {"instances": list(instances)}}


def _v2(**tensor) -> dict:
    return {"json": {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], **tensor}]}}


def _bad_requests() -> list[tuple[str, str, dict, int, str]]:
    jpeg = IMAGES[0].read_bytes() if IMAGES else b""
    too_big = (MAX_IMAGES * (MAX_IMAGE_MB * 2**20 * 4 // 3 + 1024)) + 2**20 + 10
    return [  # (case, route, requests kwargs, status, part of the message)
        (
            "not json",
            "v1",
            {"data": b"{nope", "headers": {"content-type": "application/json"}},
            400,
            "format",
        ),
        (
            "raw image body",
            "v1",
            {"data": jpeg[:100], "headers": {"content-type": "image/jpeg"}},
            400,
            "not JSON",
        ),
        ("form-typed JSON", "v1", {"data": b'{"instances": 1}'}, 400, "list"),
        ("no instances", "v1", {"json": {"inputs": []}}, 400, "instances"),
        ("instances not a list", "v1", {"json": {"instances": "x"}}, 400, "list"),
        ("empty instances", "v1", _v1(), 400, "non-empty"),
        ("unknown instance key", "v1", _v1({"image": "abc"}), 400, "b64"),
        ("both b64 and uri", "v1", _v1({"b64": "abc", "uri": "x"}), 400, "b64"),
        ("b64 not a string", "v1", _v1({"b64": 12}), 400, "base64"),
        ("empty b64", "v1", _v1({"b64": ""}), 400, "base64"),
        ("bad base64", "v1", _v1({"b64": "!!!!"}), 400, "base64"),
        ("not an image", "v1", _v1({"b64": b64(b"hello world")}), 400, "not a readable image"),
        ("truncated jpeg", "v1", _v1({"b64": b64(jpeg[: len(jpeg) // 2])}), 400, "truncated"),
        (
            "too many images",
            "v1",
            _v1(*[{"b64": b64(jpeg)}] * (MAX_IMAGES + 1)),
            400,
            f"at most {MAX_IMAGES}",
        ),
        ("image too large", "v1", _v1({"b64": b64(b"\0" * (MAX_IMAGE_MB * 2**20 + 1))}), 400, "bytes"),
        ("too many pixels", "v1", _v1({"b64": b64(_png(10000, 6000))}), 400, "pixels"),
        ("uri outside root", "v1", _v1({"uri": "file:///etc/hostname"}), 400, "--image-root"),
        ("uri traversal", "v1", _v1({"uri": "../label.txt"}), 400, "--image-root"),
        ("http uri", "v1", _v1({"uri": "http://127.0.0.1:1/a.jpg"}), 400, "file://"),
        ("missing file", "v1", _v1({"uri": "nope.jpg"}), 400, "--image-root"),
        ("body over limit", "v1", {"data": b"x" * too_big}, 413, "at most"),
        (
            "streamed body over limit",
            "v1",
            {"data": iter([b"x" * 2**20] * (too_big // 2**20 + 1))},
            413,
            "at most",
        ),
        ("unknown model", "other", _v1({"b64": b64(jpeg)}), 404, "other"),
        ("v2 no inputs field", "v2", {"json": {"instances": []}}, 422, "inputs"),
        ("v2 inputs empty", "v2", {"json": {"inputs": []}}, 400, "BYTES"),
        ("v2 wrong datatype", "v2", _v2(datatype="FP32", data=[1.0]), 400, "BYTES"),
        ("v2 unknown input", "v2", _v2(name="pixels", data=["x"]), 400, "unknown"),
        ("v2 shape mismatch", "v2", _v2(shape=[2], data=[b64(jpeg)]), 400, "shape"),
        ("v2 bad base64", "v2", _v2(data=["%%%"]), 400, "base64"),
        ("v2 uri refused", "v2", _v2(name="uri", data=["/etc/hostname"]), 400, "--image-root"),
    ]


@pytest.mark.parametrize(
    "case, route, kwargs, status, message", [pytest.param(*r, id=r[0]) for r in _bad_requests()]
)
def test_bad_request_gets_4xx_with_a_message(server, case, route, kwargs, status, message) -> None:
    url = {"v1": server.v1(), "v2": server.v2(), "other": f"{server.url}/v1/models/other:predict"}[route]
    response = requests.post(url, timeout=120, **kwargs)
    assert response.status_code == status, (case, response.text)
    assert message in response.text, (case, response.text)
    assert server.alive()


def test_server_still_answers_after_the_bad_requests(server, infer_records) -> None:
    response = requests.post(server.v1(), json=v1_body(IMAGES[1].read_bytes()), timeout=120)
    assert response.status_code == 200
    _same_as_offline(response.json()["predictions"][0], infer_records[IMAGES[1].name])
