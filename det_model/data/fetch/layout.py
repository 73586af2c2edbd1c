"""Fetch a detection dataset from a URI into a folder that PaddleOCR's SimpleDataSet reads.

Sources: `s3://bucket/key` (MinIO/S3 through the `minio` client; a key ending in `/` is a prefix),
`https://...` (and `http://` for loopback mirrors), `file://...` or a plain path (archive or folder), and
`synthetic://N[?seed=S]`. Archives are tars (any compression). Two layouts are accepted inside: PaddleOCR's
(`label_train.txt`/`label_eval.txt`, or one `label.txt` that is split) and the raw HierText release
(`gt/{train,validation}.jsonl.gz` + `train/`, `validation/` image folders, converted by
`det_model.data.sources.hiertext`). URIs are brought local by `det_model.data.fetch.transport` and tars
unpacked by `det_model.data.fetch.archive`.

The result folder always holds `label_train.txt` and `label_eval.txt` whose image paths are relative to it, so
training takes `Train.dataset.data_dir=<root>` and
`Train.dataset.label_file_list=[<root>/label_train.txt]`.
"""

from __future__ import annotations

import json
import logging
import shutil
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from det_model.data.fetch.archive import safe_extract
from det_model.data.fetch.errors import FetchError
from det_model.data.fetch.transport import stage_uri
from det_model.data.label_file import IGNORE_TRANSCRIPTIONS

log = logging.getLogger(__name__)

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
EVAL_FRACTION = 0.2  # share of a single label.txt held out for evaluation


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


# ------------------------------------------------------------------------------------------ entry point


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
    staged, nbytes, digest = stage_uri(
        uri, dest / ".download", sha256=sha256, size=size, retries=retries, backoff_s=backoff_s
    )
    if staged.is_dir():
        shutil.copytree(staged, raw, dirs_exist_ok=True)
    else:
        safe_extract(staged, raw)
    shutil.rmtree(dest / ".download", ignore_errors=True)
    return _normalise(raw, dest, label_level, "", nbytes, digest)


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
