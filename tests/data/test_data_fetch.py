"""det_model.data.fetch (transport, archive, layout) against loopback servers: moto (S3) and a flaky HTTP server."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from support.kfp_helpers import label_line, paddleocr_tar, tiny_paddleocr_files
from minio import Minio

from det_model.data.fetch.archive import safe_extract
from det_model.data.fetch.errors import FetchError, UnsafeArchiveError
from det_model.data.fetch.layout import fetch_dataset
from det_model.data.fetch.transport import fetch_file


def put(endpoint: str, bucket: str, key: str, data: bytes) -> None:
    client = Minio(endpoint, access_key="a", secret_key="b", secure=False, region="us-east-1")
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    client.put_object(bucket, key, io.BytesIO(data), len(data))


def read_labels(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_s3_tar_is_fetched_verified_and_normalised(s3_env: str, tmp_path: Path) -> None:
    data = paddleocr_tar(tiny_paddleocr_files(3, 2))
    put(s3_env, "datasets", "seed/ds.tar.gz", data)
    result = fetch_dataset(
        "s3://datasets/seed/ds.tar.gz",
        tmp_path / "out",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    assert (result.train_images, result.eval_images) == (3, 2)
    assert (result.train_boxes, result.eval_boxes, result.ignored_boxes) == (9, 2, 3)
    assert result.downloaded_bytes == len(data) and result.source_format == "paddleocr"
    # Image paths are relative to the dataset root, so data_dir=<root> works for PaddleOCR's SimpleDataSet.
    for line in read_labels(result.train_label) + read_labels(result.eval_label):
        assert (result.root / line.split("\t")[0]).is_file()
    assert not (tmp_path / "out" / ".download").exists()


def test_s3_prefix_downloads_a_folder_layout(s3_env: str, tmp_path: Path) -> None:
    for name, blob in tiny_paddleocr_files(2, 1).items():
        put(s3_env, "datasets", f"folder-ds/{name}", blob)
    result = fetch_dataset("s3://datasets/folder-ds/", tmp_path / "out")
    assert (result.train_images, result.eval_images) == (2, 1)


def test_s3_missing_key_fails_without_retrying(s3_env: str, tmp_path: Path) -> None:
    put(s3_env, "datasets", "present.tar", b"x")
    with pytest.raises(FetchError, match="NoSuchKey"):
        fetch_dataset("s3://datasets/absent.tar", tmp_path / "out", retries=3, backoff_s=5.0)


def test_s3_traversal_tar_is_refused_and_nothing_escapes(s3_env: str, tmp_path: Path) -> None:
    files = tiny_paddleocr_files(1, 1) | {"../../evil.txt": b"owned"}
    put(s3_env, "datasets", "evil.tar.gz", paddleocr_tar(files, top=""))
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        fetch_dataset("s3://datasets/evil.tar.gz", tmp_path / "a" / "b" / "out")
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (
        tmp_path / "a" / "b" / "out" / "raw" / "label_train.txt"
    ).exists()  # refused before extracting


def test_missing_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MINIO_ENDPOINT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(FetchError, match="MINIO_ENDPOINT"):
        fetch_dataset("s3://datasets/x.tar", tmp_path)


def _tar_with(member: tarfile.TarInfo, path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        ok = tarfile.TarInfo("ds/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "member, message",
    [
        (_member("ds/link", tarfile.SYMTYPE, "/etc/passwd"), "symlink"),  # symlink out of the tree
        (_member("ds/inner", tarfile.SYMTYPE, "ok.txt"), "symlink"),  # even a symlink inside the tree
        (_member("ds/hard", tarfile.LNKTYPE, "ds/ok.txt"), "hard link"),  # hard links
        (_member("ds/null", tarfile.CHRTYPE), "device"),  # character device
        (_member("/abs/file.txt", tarfile.REGTYPE), "absolute"),  # absolute member name
        (_member("ds/../../up.txt", tarfile.REGTYPE), "escapes"),  # dot-dot in the middle
    ],
)
def test_safe_extract_refuses_unsafe_members(member: tarfile.TarInfo, message: str, tmp_path: Path) -> None:
    archive = _tar_with(member, tmp_path / "bad.tar")
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "dest" / "ds" / "ok.txt").exists()


def test_file_source_checksum_and_size_mismatch(tmp_path: Path) -> None:
    archive = tmp_path / "ds.tar.gz"
    archive.write_bytes(paddleocr_tar(tiny_paddleocr_files()))
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_dataset(archive.as_uri(), tmp_path / "a", sha256="0" * 64)
    with pytest.raises(FetchError, match="size mismatch"):
        fetch_dataset(archive.as_uri(), tmp_path / "b", size=archive.stat().st_size + 1)
    good = fetch_dataset(
        archive.as_uri(), tmp_path / "c", sha256=hashlib.sha256(archive.read_bytes()).hexdigest()
    )
    assert good.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_flaky_http_endpoint_is_retried(flaky_server, tmp_path: Path) -> None:
    data = paddleocr_tar(tiny_paddleocr_files(2, 1))
    server = flaky_server(data, failures=2)
    result = fetch_dataset(server.url("ds.tar.gz"), tmp_path / "out", retries=3, backoff_s=0.01)
    assert server.requests == 3 and result.train_images == 2


def test_flaky_http_endpoint_gives_up_after_the_retries(flaky_server, tmp_path: Path) -> None:
    server = flaky_server(b"", failures=10)
    with pytest.raises(FetchError, match="giving up after 2 attempts"):
        fetch_dataset(server.url("ds.tar"), tmp_path / "out", retries=1, backoff_s=0.01)
    assert server.requests == 2


def test_http_404_is_not_retried(flaky_server, tmp_path: Path) -> None:
    server = flaky_server(b"", failures=10, status=404)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_dataset(server.url("ds.tar"), tmp_path / "out", retries=3, backoff_s=0.01)
    assert server.requests == 1


def test_fetch_file_downloads_weights(flaky_server, tmp_path: Path) -> None:
    server = flaky_server(b"weights", failures=1)
    path = fetch_file(server.url("MobileNetV3.pdparams"), tmp_path, backoff_s=0.01)
    assert path.name == "MobileNetV3.pdparams" and path.read_bytes() == b"weights"


def test_single_label_txt_is_split_and_bad_lines_are_counted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    lines = [
        "images/missing.jpg\t[]",  # image not on disk
        "no-tab-here",  # not PaddleOCR's format
        "images/0.jpg\t{not json",  # broken JSON
        'images/0.jpg\t{"points": []}',  # JSON but not a list
    ]
    for i in range(10):
        (src / "images" / f"{i}.jpg").write_bytes(b"img")
        lines.append(label_line(f"images/{i}.jpg"))
    (src / "label.txt").write_text("\n".join(lines))
    result = fetch_dataset(str(src), tmp_path / "out")
    n_eval = round(len(lines) * 0.2)  # the last 20% of the 14 lines are held out; they are all good ones
    assert (result.train_images, result.eval_images) == (10 - n_eval, n_eval)
    assert result.skipped_lines == 4
    assert read_labels(result.eval_label)[-1].startswith("raw/images/9.jpg\t")


def test_unknown_scheme_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="known: s3, https"):
        fetch_dataset("gs://bucket/x.tar", tmp_path)


def test_folder_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hi")
    with pytest.raises(FetchError, match="no dataset found"):
        fetch_dataset(str(tmp_path / "src"), tmp_path / "out")
