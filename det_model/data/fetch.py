"""Fetch a detection dataset from a URI into a folder that PaddleOCR's SimpleDataSet reads.

Sources: `s3://bucket/key` (MinIO/S3 through the `minio` client; a key ending in `/` is a prefix),
`https://...` (and `http://` for loopback mirrors), `file://...` or a plain path (archive or folder), and
`synthetic://N[?seed=S]`. Archives are tars (any compression). Two layouts are accepted inside: PaddleOCR's
(`label_train.txt`/`label_eval.txt`, or one `label.txt` that is split) and the raw HierText release
(`gt/{train,validation}.jsonl.gz` + `train/`, `validation/` image folders, converted by
`det_model.data.sources.hiertext`).

The result folder always holds `label_train.txt` and `label_eval.txt` whose image paths are relative to it, so
training takes `Train.dataset.data_dir=<root>` and
`Train.dataset.label_file_list=[<root>/label_train.txt]`.

S3 settings come from the environment (a Kubernetes Secret fills them): `MINIO_ENDPOINT` (host:port or URL),
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`), `MINIO_SECURE`
(`true`/`false`, default true unless the endpoint URL says http) and `AWS_REGION`/`MINIO_REGION`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

from det_model.data.label_file import IGNORE_TRANSCRIPTIONS

log = logging.getLogger(__name__)

T = TypeVar("T")
TRAIN_LABEL = "label_train.txt"
EVAL_LABEL = "label_eval.txt"
# PaddleOCR's own names first, then the names its docs and the ICDAR2015 recipe use.
TRAIN_LABEL_NAMES = (TRAIN_LABEL, "train_label.txt", "train_icdar2015_label.txt")
EVAL_LABEL_NAMES = (
    EVAL_LABEL,
    "eval_label.txt",
    "val_label.txt",
    "test_label.txt",
    "test_icdar2015_label.txt",
)
TRANSIENT_HTTP_CODES = (408, 425, 429, 500, 502, 503, 504)
TRANSIENT_S3_CODES = ("InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout")
EVAL_FRACTION = 0.2  # share of a single label.txt held out for evaluation


class FetchError(RuntimeError):
    """A source that cannot be fetched or does not hold a usable dataset."""


class TransientFetchError(FetchError):
    """A failure worth retrying (connection reset, 5xx, truncated body)."""


class UnsafeArchiveError(FetchError):
    """An archive member would land outside the target folder, or is a link/device."""


@dataclass(frozen=True)
class FetchResult:
    root: Path
    train_label: Path
    eval_label: Path
    source_format: str  # "paddleocr" | "hiertext" | "synthetic"
    train_images: int
    eval_images: int
    train_boxes: int
    eval_boxes: int
    ignored_boxes: int
    skipped_lines: int
    downloaded_bytes: int = 0
    sha256: str = ""

    def as_metadata(self) -> dict[str, object]:
        """Flat JSON-able dict for a KFP artifact's metadata."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


# ------------------------------------------------------------------------------------------ entry points


def fetch_dataset(
    uri: str,
    dest: Path,
    *,
    sha256: Optional[str] = None,
    size: Optional[int] = None,
    label_level: str = "line",
    retries: int = 3,
    backoff_s: float = 1.0,
) -> FetchResult:
    """Fetch `uri` into `dest` and normalise it to `label_train.txt` + `label_eval.txt`.

    `sha256`/`size` check the downloaded archive (remote and file sources); `label_level` ("line" or "word")
    picks the HierText granularity; transient network errors are retried `retries` times with exponential
    backoff starting at `backoff_s` seconds.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    raw = dest / "raw"
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "synthetic":
        _make_synthetic(uri, raw)
        return _normalise(raw, dest, label_level, "synthetic", 0, "")
    staged, nbytes, digest = _stage(
        uri, dest / ".download", sha256=sha256, size=size, retries=retries, backoff_s=backoff_s
    )
    if staged.is_dir():
        shutil.copytree(staged, raw, dirs_exist_ok=True)
    else:
        safe_extract(staged, raw)
    shutil.rmtree(dest / ".download", ignore_errors=True)
    return _normalise(raw, dest, label_level, "", nbytes, digest)


def fetch_file(
    uri: str, dest_dir: Path, *, sha256: Optional[str] = None, retries: int = 3, backoff_s: float = 1.0
) -> Path:
    """Fetch one file (e.g. pretrained `.pdparams`); return its local path (local paths are used in place)."""
    path, _, _ = _stage(uri, Path(dest_dir), sha256=sha256, size=None, retries=retries, backoff_s=backoff_s)
    if path.is_dir():
        raise FetchError(f"{uri}: expected a file, got a folder")
    return path


def _stage(
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


def _s3_download(bucket: str, key: str, work: Path, retries: int, backoff_s: float) -> Path:
    """Download one object, or every object under a prefix (key ending in '/'), into `work`."""
    from minio.error import S3Error, ServerError
    from urllib3.exceptions import HTTPError as Urllib3Error

    client = minio_client_from_env()
    uri = f"s3://{bucket}/{key}"

    def guarded(action: Callable[[], T]) -> Callable[[], T]:
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

    if key and not key.endswith("/"):
        out = work / Path(key).name
        _retry(guarded(lambda: client.fget_object(bucket, key, str(out))), uri, retries, backoff_s)
        return out
    root = work / "prefix"
    listing = guarded(lambda: list(client.list_objects(bucket, prefix=key, recursive=True)))
    objects = _retry(listing, uri, retries, backoff_s)
    if not objects:
        raise FetchError(f"{uri}: no objects under this prefix")
    for obj in objects:
        target = _inside(root, obj.object_name[len(key) :], f"{uri} object {obj.object_name!r}")
        download = guarded(lambda o=obj, t=target: client.fget_object(bucket, o.object_name, str(t)))
        _retry(download, uri, retries, backoff_s)
    return root


# --------------------------------------------------------------------------------------- safe extraction


def _inside(root: Path, name: str, what: str) -> Path:
    """`root/name`, refusing absolute names and names that resolve outside `root`."""
    if name.startswith(("/", "\\")) or Path(name).is_absolute():
        raise UnsafeArchiveError(f"{what}: absolute path escapes the target folder")
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafeArchiveError(f"{what}: path escapes the target folder")
    return target


def safe_extract(archive: Path, dest: Path) -> int:
    """Extract a tar into `dest` after checking EVERY member; refuse links, devices and escaping paths.

    Nothing is written when any member is refused. Returns the number of regular files extracted.
    """
    if not tarfile.is_tarfile(archive):
        raise FetchError(f"{archive}: not a tar archive (tar, tar.gz, tar.bz2, tar.xz are accepted)")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            what = f"{archive.name}: member {m.name!r}"
            if not (m.isfile() or m.isdir()):
                kind = "symlink" if m.issym() else "hard link" if m.islnk() else "device or fifo"
                raise UnsafeArchiveError(f"{what} is a {kind}; only regular files and folders are accepted")
            _inside(dest, m.name, what)
        tar.extractall(dest, members=members, filter="data")  # the stdlib filter as a second line of defence
    return sum(m.isfile() for m in members)


# ----------------------------------------------------------------------------------- layout + labels


def _make_synthetic(uri: str, raw: Path) -> None:
    from det_model.data.sources.synth import generate_synthetic

    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parts.query)
    try:
        count = int(parts.netloc or parts.path.strip("/"))
        seed = int(query.get("seed", ["0"])[0])
    except ValueError as exc:
        raise FetchError(f"{uri}: expected synthetic://N[?seed=S] with integers") from exc
    if count < 1:
        raise FetchError(f"{uri}: N must be >= 1")
    generate_synthetic(raw, num_images=count, seed=seed)


def _find(root: Path, names: tuple[str, ...]) -> Optional[Path]:
    """The shallowest file under `root` whose name is in `names` (earlier names win at equal depth)."""
    hits = [p for name in names for p in root.rglob(name) if p.is_file()]
    return min(hits, key=lambda p: (len(p.relative_to(root).parts), names.index(p.name)), default=None)


def _normalise(raw: Path, dest: Path, label_level: str, fmt: str, nbytes: int, digest: str) -> FetchResult:
    """Write dest/label_train.txt and dest/label_eval.txt from whatever layout `raw` holds."""
    train_src, eval_src = _find(raw, TRAIN_LABEL_NAMES), _find(raw, EVAL_LABEL_NAMES)
    gt_train = _find(raw, ("train.jsonl.gz", "train.jsonl"))
    if train_src is None and gt_train is not None:
        train_src, eval_src = _convert_hiertext(raw, gt_train, label_level)
        fmt = fmt or "hiertext"
    elif train_src is None:
        single = _find(raw, ("label.txt",))
        if single is None:
            raise FetchError(
                f"{raw}: no dataset found: expected PaddleOCR labels "
                f"({', '.join(TRAIN_LABEL_NAMES)} or label.txt) "
                "or the HierText release (gt/train.jsonl.gz + train/)"
            )
        train_src, eval_src = _split_single(single)
    if eval_src is None:
        raise FetchError(f"{raw}: found {train_src.name} but no eval labels ({', '.join(EVAL_LABEL_NAMES)})")
    fmt = fmt or "paddleocr"
    train = _rebase_labels(train_src, raw, dest, dest / TRAIN_LABEL)
    evals = _rebase_labels(eval_src, raw, dest, dest / EVAL_LABEL)
    if train.images == 0 or evals.images == 0:
        raise FetchError(f"{raw}: no usable samples (train {train.images}, eval {evals.images}); see the log")
    return FetchResult(
        root=dest,
        train_label=dest / TRAIN_LABEL,
        eval_label=dest / EVAL_LABEL,
        source_format=fmt,
        train_images=train.images,
        eval_images=evals.images,
        train_boxes=train.boxes,
        eval_boxes=evals.boxes,
        ignored_boxes=train.ignored + evals.ignored,
        skipped_lines=train.skipped + evals.skipped,
        downloaded_bytes=nbytes,
        sha256=digest,
    )


def _convert_hiertext(raw: Path, gt_train: Path, label_level: str) -> tuple[Path, Path]:
    from det_model.data.sources.hiertext import convert_hiertext

    if label_level not in ("line", "word"):
        raise FetchError(f"label_level {label_level!r}: known levels: line, word")
    gt_val = _find(raw, ("validation.jsonl.gz", "validation.jsonl"))
    if gt_val is None:
        raise FetchError(f"{raw}: HierText layout has {gt_train.name} but no validation.jsonl(.gz)")
    out = {}
    for split, gt in (("train", gt_train), ("validation", gt_val)):
        image_dir = _find_dir(raw, split)
        out[split] = raw / f"hiertext_{split}_{label_level}.txt"
        stats = convert_hiertext(gt, image_dir, out[split], level=label_level)
        log.info("HierText %s (%s level): %s", split, label_level, stats)
    return out["train"], out["validation"]


def _find_dir(root: Path, name: str) -> Path:
    dirs = [p for p in root.rglob(name) if p.is_dir() and p.parent.name != "gt"]
    if not dirs:
        raise FetchError(f"{root}: HierText image folder {name}/ not found")
    return min(dirs, key=lambda p: len(p.parts))


def _split_single(label: Path) -> tuple[Path, Path]:
    """Hold out the last EVAL_FRACTION of a lone label.txt (deterministic; order as written)."""
    lines = [ln for ln in label.read_text(encoding="utf-8").splitlines() if ln.strip()]
    n_eval = max(1, round(len(lines) * EVAL_FRACTION)) if len(lines) > 1 else 0
    if n_eval == 0:
        log.warning("%s has a single sample; it is used for both training and evaluation", label)
    train_lines, eval_lines = (lines[:-n_eval], lines[-n_eval:]) if n_eval else (lines, lines)
    train, evals = label.with_name("split_train.txt"), label.with_name("split_eval.txt")
    train.write_text("".join(f"{ln}\n" for ln in train_lines), encoding="utf-8")
    evals.write_text("".join(f"{ln}\n" for ln in eval_lines), encoding="utf-8")
    return train, evals


@dataclass
class _LabelStats:
    images: int = 0
    boxes: int = 0
    ignored: int = 0
    skipped: int = 0


def _rebase_labels(src: Path, raw: Path, dest: Path, out: Path) -> _LabelStats:
    """Copy a PaddleOCR label file with image paths made relative to `dest`; bad lines are counted, logged.

    An image path is looked up next to the label file, then under the archive root (PaddleOCR resolves it
    against `data_dir`, which is usually one of the two).
    """
    stats, lines = _LabelStats(), []
    for lineno, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{src}:{lineno}"
        image, sep, annotation = line.partition("\t")
        try:
            boxes = json.loads(annotation) if sep else None
        except json.JSONDecodeError as exc:
            boxes, why = None, f"annotation is not JSON ({exc.msg})"
        else:
            why = "expected <image path>\\t<JSON list>" if not isinstance(boxes, list) else ""
        found = _resolve_image(image, src.parent, raw) if not why else None
        if why or found is None:
            stats.skipped += 1
            log.warning("%s: skipped: %s", where, why or f"image {image!r} not found")
            continue
        stats.images += 1
        stats.boxes += len(boxes)
        stats.ignored += sum(isinstance(b, dict) and b.get("transcription") in IGNORE_TRANSCRIPTIONS for b in boxes)
        lines.append(f"{found.relative_to(dest.resolve()).as_posix()}\t{annotation}\n")
    out.write_text("".join(lines), encoding="utf-8")
    return stats


def _resolve_image(image: str, label_dir: Path, raw: Path) -> Optional[Path]:
    for base in (label_dir, raw):
        candidate = Path(image) if Path(image).is_absolute() else base / image
        if candidate.is_file() and candidate.resolve().is_relative_to(raw.resolve()):
            return candidate.resolve()
    return None
