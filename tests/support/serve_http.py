"""HTTP helpers of the tests that query `det-model serve`, run as a subprocess (tests/serving) or in a
container (tests/containers): the V1/V2 routes and request bodies, waiting until the server is ready, and
the comparison of a served answer with `det-model infer`'s record (fixtures: support/serve_fixtures.py)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import numpy as np
import requests

from det_model.cli_serve import DEFAULT_MODEL_NAME as MODEL_NAME


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v1_url(base_url: str) -> str:
    return f"{base_url}/v1/models/{MODEL_NAME}:predict"


def v2_url(base_url: str) -> str:
    return f"{base_url}/v2/models/{MODEL_NAME}/infer"


def v1_body(*images: bytes) -> dict:
    """`{"instances": [{"b64": ...}, ...]}`, one instance an encoded image file."""
    return {"instances": [{"b64": b64(data)} for data in images]}


def v2_body(*images: bytes) -> dict:
    """One V2 BYTES input `image` holding the encoded files as base64 strings."""
    data = [b64(d) for d in images]
    return {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [len(data)], "data": data}]}


class NotReady(RuntimeError):
    """The server ended, or did not answer ready in time; the message says which."""


def wait_ready(
    base_url: str, ended: Callable[[], str | None], timeout_s: float, poll_s: float = 0.5
) -> None:
    """Return once GET /v2/health/ready answers 200; `ended()` tells why the server is gone (None: up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reason = ended()
        if reason is not None:
            raise NotReady(reason)
        try:
            if requests.get(f"{base_url}/v2/health/ready", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(poll_s)
    raise NotReady(f"was not ready after {timeout_s}s")


def assert_same_boxes(record: dict, expected: dict) -> None:
    """A served record has the boxes, scores and image size `det-model infer` wrote for the same file."""
    assert record["boxes"] == expected["boxes"]
    np.testing.assert_allclose(record["scores"], expected["scores"], atol=1e-5)
    assert (record["height"], record["width"]) == (expected["height"], expected["width"])
