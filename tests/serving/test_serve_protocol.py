"""Request parsing of det-model serve: which URIs are read (only files under --image-root), base64 and V2
tensors, limits, and decoding that matches `det-model infer`'s read_image."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from det_model.inference.images import read_image
from det_model.serving.protocol import (
    BadRequest,
    EncodedImage,
    RequestLimits,
    decode_image,
    images_from_v1,
    images_from_v2,
    read_uri,
)


@dataclass
class Tensor:  # the attributes of kserve's InferInput that images_from_v2 reads
    name: str
    datatype: str
    shape: list[int]
    data: Any


def _jpeg(value: int = 200) -> bytes:
    image = np.full((40, 60, 3), value, np.uint8)
    cv2.putText(image, "AB", (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(_jpeg())
    (images / "sub").mkdir()
    (images / "sub" / "b.jpg").write_bytes(_jpeg(100))
    (tmp_path / "secret.jpg").write_bytes(_jpeg(50))
    os.symlink(tmp_path / "secret.jpg", images / "link.jpg")  # points outside the root
    return images


@pytest.mark.parametrize(
    "uri, readable",
    [
        ("a.jpg", True),
        ("sub/b.jpg", True),
        ("{root}/a.jpg", True),  # absolute path inside the root
        ("file://{root}/sub/b.jpg", True),
        ("file://localhost{root}/a.jpg", True),
        ("file://{root}/sub/%62.jpg", True),  # percent-encoded b
        ("../secret.jpg", False),  # traversal
        ("sub/../../secret.jpg", False),
        ("link.jpg", False),  # symlink leaving the root
        ("file://{root}/../secret.jpg", False),
        ("/etc/hostname", False),
        ("file://otherhost{root}/a.jpg", False),
        ("http://127.0.0.1/a.jpg", False),
        ("s3://bucket/a.jpg", False),
        ("sub", False),  # a folder
        ("missing.jpg", False),
        ("", False),
    ],
)
def test_only_files_under_the_root_are_read(root: Path, uri: str, readable: bool) -> None:
    uri = uri.format(root=root)  # root is absolute: file://{root} is file:///...
    limits = RequestLimits(image_root=root)
    if readable:
        assert read_uri(uri, "x", limits)[:2] == b"\xff\xd8"
    else:
        with pytest.raises(BadRequest, match="x: "):
            read_uri(uri, "x", limits)


def test_without_an_image_root_no_uri_is_read(root: Path) -> None:
    with pytest.raises(BadRequest, match="--image-root"):
        read_uri(str(root / "a.jpg"), "x", RequestLimits())


def test_v1_and_v2_name_each_image_and_decode_like_read_image(root: Path) -> None:
    data = (root / "a.jpg").read_bytes()
    text = base64.b64encode(data).decode()
    limits = RequestLimits(image_root=root)
    v1 = images_from_v1({"instances": [{"b64": text}, {"uri": "a.jpg"}]}, limits)
    v2 = images_from_v2(
        [Tensor("image", "BYTES", [2], [text, data]), Tensor("uri", "BYTES", [1], ["sub/b.jpg"])], limits
    )
    assert [i.source for i in v1] == ["instances[0]", "instances[1]"]
    assert [i.source for i in v2] == ["inputs[image][0]", "inputs[image][1]", "inputs[uri][0]"]
    assert {i.data for i in v1 + v2[:2]} == {data}
    np.testing.assert_array_equal(decode_image(v1[0], limits), read_image(root / "a.jpg"))


@pytest.mark.parametrize(
    "image, message",
    [
        (EncodedImage("s", b"GIF89a..."), "not a readable image"),
        (EncodedImage("s", _jpeg()[:-50]), "truncated"),
    ],
)
def test_decode_refuses_what_read_image_refuses(image: EncodedImage, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_image(image, RequestLimits())


def test_pixel_limit_is_checked_before_decoding() -> None:
    png = cv2.imencode(".png", np.zeros((300, 400), np.uint8))[1].tobytes()
    with pytest.raises(BadRequest, match="400x300 pixels"):
        decode_image(EncodedImage("s", png), RequestLimits(max_image_pixels=100_000))
    assert decode_image(EncodedImage("s", png), RequestLimits(max_image_pixels=120_000)).shape == (
        300,
        400,
        3,
    )


def test_v2_nested_data_is_flattened_and_counted() -> None:
    text = base64.b64encode(_jpeg()).decode()
    images = images_from_v2([Tensor("image", "BYTES", [2], [[text], [text]])], RequestLimits())
    assert len(images) == 2
    with pytest.raises(BadRequest, match="at most 1"):
        images_from_v2([Tensor("image", "BYTES", [2], [text, text])], RequestLimits(max_images=1))
