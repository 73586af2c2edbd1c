"""Requests and responses of `det-model serve` (plain Python: no kserve import, testable on its own).

Images arrive as
- base64 text: V1 `{"instances": [{"b64": "<JPEG/PNG...>"}]}`, V2 BYTES input `image` (one string an image);
- raw bytes: V2 BYTES input `image` sent with the binary-data extension;
- a URI: V1 `{"uri": ...}` or V2 BYTES input `uri`. Only `file://` URIs (or plain paths) that resolve, after
  following symlinks, to a regular file inside the folder given by `--image-root`; without `--image-root`
  every URI is refused. The server never fetches http(s)/s3 URIs: a model server that fetches caller-chosen
  URLs is a server-side request forgery hole.
Every problem raises `BadRequest` with a message naming the instance; the server answers it with HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, UnidentifiedImageError

from det_model.inference.images import ImageError
from det_model.inference.images import decode_image as decode_image_bytes
from det_model.postprocess import Detections

V2_IMAGE_INPUT, V2_URI_INPUT, V2_OUTPUT = "image", "uri", "detections"


class BadRequest(ValueError):
    """A request the server cannot use; the message tells the caller what to fix."""


@dataclass(frozen=True)
class RequestLimits:
    """What one request may hold. `image_root` None refuses every URI."""

    max_images: int = 16
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    image_root: Path | None = None

    def __post_init__(self) -> None:
        if min(self.max_images, self.max_image_bytes, self.max_image_pixels) < 1:
            raise ValueError(f"request limits must be positive: {self}")


@dataclass(frozen=True)
class EncodedImage:
    source: str  # "instances[0]", "inputs[image][2]": how error messages name the image
    data: bytes


# ------------------------------------------------------------------------------------------- V1 / V2


def images_from_v1(body: Any, limits: RequestLimits) -> list[EncodedImage]:
    """`{"instances": [{"b64": ...} | {"uri": ...}, ...]}` -> encoded images.

    KServe passes bodies without a JSON content type through as bytes (e.g. curl -d's form type): parse them.
    """
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON ({exc}); send Content-Type: application/json") from exc
    if not isinstance(body, dict) or "instances" not in body:
        raise BadRequest('expected a JSON object {"instances": [{"b64": "<base64 image>"} | {"uri": "..."}]}')
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise BadRequest('"instances" must be a non-empty list')
    _check_count(len(instances), limits)
    images = []
    for index, instance in enumerate(instances):
        source = f"instances[{index}]"
        if not isinstance(instance, dict) or len(instance.keys() & {"b64", "uri"}) != 1:
            raise BadRequest(f'{source}: expected {{"b64": "<base64 image>"}} or {{"uri": "..."}}')
        if "b64" in instance:
            images.append(EncodedImage(source, decode_b64(instance["b64"], source, limits)))
        else:
            images.append(EncodedImage(source, read_uri(instance["uri"], source, limits)))
    return images


def images_from_v2(inputs: Sequence[Any], limits: RequestLimits) -> list[EncodedImage]:
    """Open Inference Protocol inputs (objects with name, datatype, shape, data) -> encoded images."""
    if not inputs:
        raise BadRequest(f'expected one BYTES input named "{V2_IMAGE_INPUT}" (or "{V2_URI_INPUT}")')
    images: list[EncodedImage] = []
    for tensor in inputs:
        name = getattr(tensor, "name", None)
        if name not in (V2_IMAGE_INPUT, V2_URI_INPUT):
            raise BadRequest(f'input "{name}": unknown; expected "{V2_IMAGE_INPUT}" or "{V2_URI_INPUT}"')
        if tensor.datatype != "BYTES":
            raise BadRequest(f'input "{name}": datatype {tensor.datatype}; expected BYTES')
        data = list(_flat(tensor.data))
        if list(tensor.shape) != [len(data)]:
            raise BadRequest(f'input "{name}": shape {list(tensor.shape)} but {len(data)} elements')
        _check_count(len(images) + len(data), limits)
        for index, element in enumerate(data):
            source = f"inputs[{name}][{index}]"
            images.append(EncodedImage(source, _v2_element(name, element, source, limits)))
    if not images:
        raise BadRequest("the request holds no images")
    return images


def _v2_element(name: str, element: Any, source: str, limits: RequestLimits) -> bytes:
    if name == V2_URI_INPUT:
        uri = element.decode() if isinstance(element, bytes) else element
        return read_uri(uri, source, limits)
    if isinstance(element, bytes):  # binary-data extension: the raw file
        return _check_size(element, source, limits)
    return decode_b64(element, source, limits)


def _flat(data: Any):
    for item in data if isinstance(data, (list, tuple, np.ndarray)) else [data]:
        if isinstance(item, (list, tuple, np.ndarray)):
            yield from _flat(item)
        else:
            yield item


def _check_count(count: int, limits: RequestLimits) -> None:
    if count > limits.max_images:
        raise BadRequest(f"{count} images in one request; at most {limits.max_images}")


# ------------------------------------------------------------------------------------------ payloads


def decode_b64(text: Any, source: str, limits: RequestLimits) -> bytes:
    if not isinstance(text, str) or not text:
        raise BadRequest(f"{source}: expected a non-empty base64 string")
    if len(text) > (limits.max_image_bytes * 4) // 3 + 4:
        raise BadRequest(f"{source}: image over {limits.max_image_bytes} bytes")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{source}: not valid base64 ({exc})") from exc
    return _check_size(data, source, limits)


def read_uri(uri: Any, source: str, limits: RequestLimits) -> bytes:
    """A file under `limits.image_root` named by `file://...` or a path (relative ones from the root)."""
    if not isinstance(uri, str) or not uri:
        raise BadRequest(f"{source}: expected a non-empty URI string")
    if limits.image_root is None:
        raise BadRequest(f"{source}: this server reads no URIs (start it with --image-root to allow files)")
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") or parsed.netloc not in ("", "localhost"):
        raise BadRequest(f"{source}: only file:// URIs under the server's --image-root are read, not {uri!r}")
    root = limits.image_root.resolve()
    path = (root / unquote(parsed.path)).resolve()  # an absolute path replaces root; checked below
    if not path.is_relative_to(root) or not path.is_file():
        raise BadRequest(f"{source}: {uri!r} is not a file under the server's --image-root")
    if path.stat().st_size > limits.max_image_bytes:
        raise BadRequest(f"{source}: {uri!r} is over {limits.max_image_bytes} bytes")
    return _check_size(path.read_bytes(), source, limits)


def _check_size(data: bytes, source: str, limits: RequestLimits) -> bytes:
    if not data:
        raise BadRequest(f"{source}: empty image")
    if len(data) > limits.max_image_bytes:
        raise BadRequest(f"{source}: image of {len(data)} bytes; at most {limits.max_image_bytes}")
    return data


def decode_image(image: EncodedImage, limits: RequestLimits) -> np.ndarray:
    """Bytes -> BGR uint8 exactly as `det-model infer` reads files (cv2, EXIF orientation, 16 bit -> 8 bit).

    The header is read first (PIL, no pixel decoding) so a small file that would expand to gigabytes of
    pixels is refused before it is decoded.
    """
    data, source = image.data, image.source
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise BadRequest(f"{source}: not a readable image ({exc})") from exc
    if width * height > limits.max_image_pixels:
        raise BadRequest(f"{source}: {width}x{height} pixels; at most {limits.max_image_pixels}")
    try:
        return decode_image_bytes(data, source)
    except ImageError as exc:
        raise BadRequest(str(exc)) from exc


# ------------------------------------------------------------------------------------------ responses


def detection_record(
    detections: Detections, image_hw: tuple[int, int], input_hw: tuple[int, int]
) -> dict[str, Any]:
    """One image's answer: polygons (x, y) in image pixels, scores, image size and network input size."""
    return {
        "boxes": [np.asarray(b).tolist() for b in detections.boxes],
        "scores": [round(float(s), 6) for s in detections.scores],
        "height": int(image_hw[0]),
        "width": int(image_hw[1]),
        "input_height": int(input_hw[0]),
        "input_width": int(input_hw[1]),
    }
