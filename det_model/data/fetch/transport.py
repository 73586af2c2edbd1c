"""Bring a URI to a local path: `s3://bucket/key` (MinIO/S3 through the `minio` client; a key ending in `/` is
a prefix), `https://...` (and `http://` for loopback mirrors), `file://...` or a plain path. Transient network
errors are retried with exponential backoff; downloads are checked against an expected size and sha256.

S3 settings come from the environment (a Kubernetes Secret fills them): `MINIO_ENDPOINT` (host:port or URL),
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`), `MINIO_SECURE`
(`true`/`false`, default true unless the endpoint URL says http) and `AWS_REGION`/`MINIO_REGION`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Optional, TypeVar

from det_model.data.fetch.archive import path_inside
from det_model.data.fetch.errors import FetchError, TransientFetchError

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_HTTP_CODES = (408, 425, 429, 500, 502, 503, 504)
TRANSIENT_S3_CODES = ("InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout")


def fetch_file(
    uri: str, dest_dir: Path, *, sha256: Optional[str] = None, retries: int = 3, backoff_s: float = 1.0
) -> Path:
    """Fetch one file (e.g. pretrained `.pdparams`); return its local path (local paths are used in place)."""
    path, _, _ = stage_uri(
        uri, Path(dest_dir), sha256=sha256, size=None, retries=retries, backoff_s=backoff_s
    )
    if path.is_dir():
        raise FetchError(f"{uri}: expected a file, got a folder")
    return path


def stage_uri(
    uri: str, work: Path, *, sha256: Optional[str], size: Optional[int], retries: int, backoff_s: float
) -> tuple[Path, int, str]:
    """Download (or locate) `uri`; return (local path, bytes, sha256 hex) after checking size and checksum."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parts.path) if parts.scheme else uri)
        if not path.exists():
            raise FetchError(f"{uri}: no such file or folder")
        if path.is_dir():
            return path, 0, ""
    elif parts.scheme in ("http", "https"):
        work.mkdir(parents=True, exist_ok=True)
        path = work / (Path(parts.path).name or "download")
        _retry(lambda: _http_download(uri, path), uri, retries, backoff_s)
    elif parts.scheme == "s3":
        work.mkdir(parents=True, exist_ok=True)
        path = _s3_download(parts.netloc, parts.path.lstrip("/"), work, retries, backoff_s)
        if path.is_dir():
            return path, 0, ""
    else:
        raise FetchError(f"{uri}: unknown scheme {parts.scheme!r}; known: s3, https, http, file, synthetic")
    return path, *_verify(path, uri, sha256, size)


def _verify(path: Path, uri: str, sha256: Optional[str], size: Optional[int]) -> tuple[int, str]:
    nbytes = path.stat().st_size
    if size is not None and size > 0 and nbytes != size:
        raise FetchError(f"{uri}: size mismatch: expected {size} bytes, got {nbytes}")
    digest = file_sha256(path)
    if sha256 and digest != sha256.lower():
        raise FetchError(f"{uri}: sha256 mismatch: expected {sha256.lower()}, got {digest}")
    return nbytes, digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- retries


def _retry(action: Callable[[], T], what: str, retries: int, backoff_s: float) -> T:
    """Run `action`, retrying TransientFetchError up to `retries` times with exponential backoff."""
    for attempt in range(retries + 1):
        try:
            return action()
        except TransientFetchError as exc:
            if attempt == retries:
                raise FetchError(f"{what}: giving up after {retries + 1} attempts: {exc}") from exc
            delay = backoff_s * 2**attempt
            log.warning("%s: attempt %d failed (%s); retrying in %.2fs", what, attempt + 1, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _http_download(url: str, out: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(out, "wb") as f:
            expected = resp.headers.get("Content-Length")
            shutil.copyfileobj(resp, f, 1 << 20)
    except urllib.error.HTTPError as exc:
        if exc.code in TRANSIENT_HTTP_CODES:
            raise TransientFetchError(f"HTTP {exc.code}") from exc
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as exc:
        raise TransientFetchError(str(exc)) from exc
    if expected is not None and out.stat().st_size != int(expected):
        raise TransientFetchError(f"truncated body: {out.stat().st_size} of {expected} bytes")


# ------------------------------------------------------------------------------------------------- S3


def minio_client_from_env():  # -> minio.Minio (imported lazily: only S3 sources need it)
    """A `minio.Minio` client configured from MINIO_* / AWS_* environment variables."""
    from minio import Minio

    endpoint = os.environ.get("MINIO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise FetchError("s3:// sources need MINIO_ENDPOINT (host:port or URL) in the environment")
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    secure_env = os.environ.get("MINIO_SECURE")
    if secure_env is None:
        secure = parsed.scheme != "http"
    else:
        secure = secure_env.strip().lower() in ("1", "true", "yes")
    return Minio(
        parsed.netloc,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("MINIO_ACCESS_KEY"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("MINIO_SECRET_KEY"),
        secure=secure,
        region=os.environ.get("AWS_REGION") or os.environ.get("MINIO_REGION") or None,
    )


def _s3_guarded(uri: str, action: Callable[[], T]) -> Callable[[], T]:
    """`action` with S3 errors turned into FetchError (TransientFetchError for the retryable ones)."""
    from minio.error import S3Error, ServerError
    from urllib3.exceptions import HTTPError as Urllib3Error

    def run() -> T:
        try:
            return action()
        except S3Error as exc:
            if exc.code in TRANSIENT_S3_CODES:
                raise TransientFetchError(f"{exc.code}: {exc.message}") from exc
            raise FetchError(f"{uri}: {exc.code}: {exc.message}") from exc
        except (ServerError, Urllib3Error, ConnectionError, TimeoutError) as exc:
            raise TransientFetchError(str(exc)) from exc

    return run


def list_s3_prefix(uri: str, retries: int = 3, backoff_s: float = 1.0) -> list[str]:
    """Names (relative to the prefix) of every object under `s3://bucket/prefix`, recursively, sorted."""
    parts = urllib.parse.urlsplit(uri)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    client = minio_client_from_env()
    listing = _s3_guarded(uri, lambda: list(client.list_objects(bucket, prefix=prefix, recursive=True)))
    objects = _retry(listing, uri, retries, backoff_s)
    return sorted(obj.object_name[len(prefix) :] for obj in objects)


def _s3_download(bucket: str, key: str, work: Path, retries: int, backoff_s: float) -> Path:
    """Download one object, or every object under a prefix (key ending in '/'), into `work`."""
    client = minio_client_from_env()
    uri = f"s3://{bucket}/{key}"
    if key and not key.endswith("/"):
        out = work / Path(key).name
        _retry(_s3_guarded(uri, lambda: client.fget_object(bucket, key, str(out))), uri, retries, backoff_s)
        return out
    root = work / "prefix"
    names = list_s3_prefix(uri, retries, backoff_s)
    if not names:
        raise FetchError(f"{uri}: no objects under this prefix")
    for name in names:
        target = path_inside(root, name, f"{uri} object {key + name!r}")
        download = _s3_guarded(uri, lambda n=key + name, t=target: client.fget_object(bucket, n, str(t)))
        _retry(download, uri, retries, backoff_s)
    return root
