"""Pretrained inputs as users have them -> the checked weights of one named sub-model.

Accepted sources (a path, `file://`, `https://` or `s3://` URI):
- a `.pdparams` file, or PaddleOCR's path prefix without the suffix (`.../best_accuracy`);
- a folder holding `best_accuracy.pdparams` (PaddleOCR's published `*_train` tar, unpacked), or the tar;
- the released inference model as ONNX (`ch_PP-OCRv3_det_infer.onnx`), imported into the student on the fly.

A distillation file (keys `Student.`, `Student2.`, `Teacher.`) gives each sub-model the part that fits it: the
part named like the sub-model first, then `Student`, then `Teacher`, then any other. So the published
`ch_PP-OCRv3_det_distill_train` checkpoint fills a CML model part by part, its `Teacher` fills both ResNet
students of DML fine-tuning, and its `Student` the plain student. When no part fits, the error gives the
missing / unexpected / shape-mismatched key counts of each: nothing is ever trained from random weights.
Only an ONNX source may lack keys, and only the training-only threshold branch (`head.thresh.*`).
"""

from __future__ import annotations

import logging
import tarfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np
from paddle import nn

from det_model.config.schema import DetConfig, DistillationModelConfig
from det_model.data.fetch.archive import safe_extract
from det_model.data.fetch.errors import FetchError
from det_model.data.fetch.transport import fetch_file, list_s3_prefix
from det_model.modeling.build import build_detector
from det_model.modeling.onnx_import import TRAINING_ONLY_PREFIX, import_onnx
from det_model.modeling.weights import (
    DEFAULT_SUB_MODEL,
    PARAMS_SUFFIX,
    key_prefixes,
    load_params_file,
    save_params,
)

logger = logging.getLogger(__name__)

BEST = "best_accuracy"
ONNX_SUFFIX = ".onnx"
# Suffixes a remote URI may end with; anything else is PaddleOCR's suffix-less prefix (".pdparams" appended).
REMOTE_SUFFIXES = (PARAMS_SUFFIX, ONNX_SUFFIX, ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
PREFERRED_PARTS = ("Student", "Teacher")


class PretrainedMismatchError(ValueError):
    """A pretrained source has no part whose keys and shapes fit the sub-model it was given to."""


@dataclass(frozen=True)
class FitReport:
    """How one candidate (a prefix of the file, or the whole file when `part` is None) fits a sub-model."""

    part: str | None
    matched: int
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shape_mismatched: tuple[str, ...] = ()
    allowed_missing: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.matched > 0 and not (self.missing or self.unexpected or self.shape_mismatched)

    def summary(self) -> str:
        name = f"part {self.part!r}" if self.part else "whole file"
        text = (
            f"{name}: matched {self.matched}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, shape-mismatched {len(self.shape_mismatched)}"
        )
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                text += f" (first {label}: {keys[0]})"
        return text


@dataclass(frozen=True)
class ResolvedPretrained:
    """The fitted weights written for one sub-model (a `.pdparams` path prefix, PaddleOCR style)."""

    sub_model: str
    source: str
    path_prefix: Path
    fit: FitReport


# ------------------------------------------------------------------------------------------- sources


def fetch_source(uri: str, work: Path) -> Path:
    """A local path for `uri`: local paths in place, remote ones downloaded into `work`."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parts.path) if parts.scheme else uri)
        if path.exists() or Path(f"{path}{PARAMS_SUFFIX}").exists():
            return path
        raise FileNotFoundError(f"pretrained {uri}: no such file, folder or {PARAMS_SUFFIX} prefix")
    if parts.path.endswith(REMOTE_SUFFIXES):
        return fetch_file(uri, work / "download")
    if parts.scheme == "s3":
        return fetch_file(s3_weights_object(uri), work / "download")
    return _fetch_remote_prefix(uri, work)


def s3_weights_object(uri: str) -> str:
    """The object an s3 source without a file suffix names: PaddleOCR's prefix `<key>.pdparams` when that
    object exists (and the key does not end in `/`), else the file picked in the folder `<key>/` as in a
    local folder (only that object is downloaded, not the optimizer state beside it)."""
    base = uri.rstrip("/")
    names = list_s3_prefix(base)  # one listing: `<key>.pdparams` is ".pdparams", folder files "/<name>"
    if not uri.endswith("/") and PARAMS_SUFFIX in names:
        return f"{base}{PARAMS_SUFFIX}"
    at_bucket_root = not urllib.parse.urlsplit(base).path
    inside = names if at_bucket_root else [n[1:] for n in names if n.startswith("/")]
    chosen = pick_weights_file(inside)
    if chosen is None:
        raise FileNotFoundError(no_weights_message(f"pretrained {base}/", inside))
    return f"{base}/{chosen}"


def _fetch_remote_prefix(uri: str, work: Path) -> Path:
    """https: PaddleOCR's suffix-less prefix (`<uri>.pdparams`); a folder cannot be listed over https."""
    if uri.endswith("/"):
        raise FileNotFoundError(
            f"pretrained {uri}: an https folder cannot be listed; give the file in it: "
            f"{uri}{BEST}{PARAMS_SUFFIX} (or the prefix {uri}{BEST}), the published .tar "
            f"(e.g. ch_PP-OCRv3_det_distill_train.tar), or an {ONNX_SUFFIX} model"
        )
    try:
        return fetch_file(f"{uri}{PARAMS_SUFFIX}", work / "download")
    except FetchError as exc:
        raise FetchError(
            f"{exc} (pretrained {uri} has no file suffix, so it was read as PaddleOCR's prefix of "
            f"{uri}{PARAMS_SUFFIX}; for a folder give {uri}/{BEST}{PARAMS_SUFFIX}: an https folder "
            "cannot be listed)"
        ) from exc


def pick_weights_file(names: Sequence[str]) -> str | None:
    """Of a folder's files (relative '/'-separated names): best_accuracy.pdparams (the shallowest), else the
    only .pdparams, else the only .onnx; None when none of these fits."""
    best = sorted((n for n in names if PurePosixPath(n).name == f"{BEST}{PARAMS_SUFFIX}"),
                  key=lambda n: (n.count("/"), n))
    if best:
        return best[0]
    for suffix in (PARAMS_SUFFIX, ONNX_SUFFIX):
        found = [n for n in names if n.endswith(suffix)]
        if found:
            return found[0] if len(found) == 1 else None
    return None


def no_weights_message(where: str, names: Sequence[str], shown: int = 8) -> str:
    listing = ", ".join(sorted(names)[:shown])
    listing += f", ... ({len(names)} in all)" if len(names) > shown else ""
    return (
        f"{where}: no {BEST}{PARAMS_SUFFIX} and not exactly one {PARAMS_SUFFIX} or {ONNX_SUFFIX} file "
        f"(found: {listing or 'nothing'})"
    )


def _params_in_folder(folder: Path) -> Path:
    """The weights file of a local folder (pick_weights_file)."""
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    chosen = pick_weights_file(names)
    if chosen is None:
        raise FileNotFoundError(no_weights_message(f"pretrained folder {folder}", names))
    return folder / chosen


def load_source_params(path: Path, work: Path) -> tuple[dict[str, np.ndarray], bool]:
    """{key: array} of a file/folder/tar/ONNX source; the flag says it came from an inference model."""
    if path.is_file() and tarfile.is_tarfile(path):
        unpacked = work / "unpacked"
        safe_extract(path, unpacked)
        path = unpacked
    if path.is_dir():
        path = _params_in_folder(path)
    if path.suffix == ONNX_SUFFIX:
        imported = work / f"{path.stem}.imported{PARAMS_SUFFIX}"
        logger.info("%s", import_onnx(path, imported).summary())
        return load_params_file(imported), True
    return load_params_file(path), False


# --------------------------------------------------------------------------------------------- fitting


def fit_report(
    params: dict[str, np.ndarray], layer: nn.Layer, part: str | None, allowed: tuple[str, ...]
) -> FitReport:
    """Compare `params` (prefix stripped) with the layer's state dict, key by key and shape by shape."""
    state = layer.state_dict()
    missing = tuple(k for k in state if k not in params and not k.startswith(allowed))
    unexpected = tuple(k for k in params if k not in state)
    mismatched = tuple(
        k
        for k, v in params.items()
        if k in state and tuple(np.shape(v)) != tuple(int(s) for s in state[k].shape)
    )
    matched = sum(1 for k in params if k in state) - len(mismatched)
    return FitReport(part, matched, missing, unexpected, mismatched, allowed)


def candidate_parts(params: dict[str, np.ndarray], sub_model: str) -> list[str | None]:
    """None (the whole file) for a plain detector file; the prefixes in preference order otherwise."""
    prefixes = key_prefixes(params)
    if {"backbone", "neck", "head"} & set(prefixes):
        return [None]
    preferred = [sub_model, *PREFERRED_PARTS]
    ordered = [p for p in dict.fromkeys(preferred) if p in prefixes]
    return ordered + [p for p in prefixes if p not in ordered]


def strip_part(params: dict[str, np.ndarray], part: str | None) -> dict[str, np.ndarray]:
    if part is None:
        return params
    head = f"{part}."
    return {k[len(head) :]: v for k, v in params.items() if k.startswith(head)}


def select_part(
    params: dict[str, np.ndarray], layer: nn.Layer, sub_model: str, source: str, from_inference: bool
) -> tuple[dict[str, np.ndarray], FitReport]:
    """The first candidate part that fits `layer` exactly; else PretrainedMismatchError with every count."""
    allowed = (TRAINING_ONLY_PREFIX,) if from_inference else ()
    reports = []
    for part in candidate_parts(params, sub_model):
        chosen = strip_part(params, part)
        report = fit_report(chosen, layer, part, allowed)
        if report.fits:
            return chosen, report
        reports.append(report)
    raise PretrainedMismatchError(
        f"pretrained {source} does not fit sub-model {sub_model!r} "
        f"({type(layer.backbone).__name__} + {type(layer.neck).__name__}): "
        + "; ".join(r.summary() for r in reports)
    )


# ------------------------------------------------------------------------------------------ entry points


def sub_model_layers(cfg: DetConfig) -> dict[str, nn.Layer]:
    """Sub-model name -> an untrained layer of its architecture (a plain model is named Student)."""
    arch = cfg.Architecture
    if isinstance(arch, DistillationModelConfig):
        return {name: build_detector(sub) for name, sub in arch.Models.items()}
    return {DEFAULT_SUB_MODEL: build_detector(arch)}


def load_uri(uri: str, work: Path) -> tuple[dict[str, np.ndarray], bool]:
    """Fetch and read a source once: {key: array} and whether it came from an inference model."""
    work.mkdir(parents=True, exist_ok=True)
    return load_source_params(fetch_source(uri, work), work)


def write_fitted(
    loaded: tuple[dict[str, np.ndarray], bool], uri: str, layer: nn.Layer, sub_model: str, work: Path
) -> ResolvedPretrained:
    """Pick the part of a loaded source that fits `layer` and write it as `work/<sub_model>.pdparams`."""
    chosen, report = select_part(loaded[0], layer, sub_model, uri, loaded[1])
    target = save_params(chosen, work / f"{sub_model}{PARAMS_SUFFIX}")
    logger.info("pretrained %s -> %s for %s: %s", uri, target, sub_model, report.summary())
    return ResolvedPretrained(sub_model, uri, target.with_suffix(""), report)


def resolve_for_config(cfg: DetConfig, sources: dict[str, str], work: Path) -> dict[str, ResolvedPretrained]:
    """Resolve `sources` (sub-model name -> URI; empty URIs skipped) against the sub-models of `cfg`.

    Each distinct URI is fetched and read once, however many sub-models it feeds.
    """
    layers = sub_model_layers(cfg)
    unknown = sorted(set(sources) - set(layers))
    if unknown:
        raise ValueError(f"pretrained for unknown sub-models {unknown}; this config has {sorted(layers)}")
    uris = list(dict.fromkeys(uri for uri in sources.values() if uri))
    loaded = {uri: load_uri(uri, work / f"source{i}") for i, uri in enumerate(uris)}
    return {
        name: write_fitted(loaded[uri], uri, layers[name], name, work)
        for name, uri in sources.items()
        if uri
    }
