"""Loading `.pdparams` files into our layers, with a report instead of warnings floods.

Mirrors PaddleOCR's `load_pretrained_params` (`ppocr/utils/save_load.py`): keys are matched by name, values
are cast to the parameter dtype, shape mismatches are skipped and reported. On top of that it understands
distillation checkpoints (keys prefixed `Student.`, `Student2.`, `Teacher.`), the most common loading
mistake in PaddleOCR's issue tracker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle
from paddle import nn

logger = logging.getLogger(__name__)

PARAMS_SUFFIX = ".pdparams"
# First key component of a plain DB detector's state dict.
DETECTOR_PARTS = ("backbone", "neck", "head")
DEFAULT_SUB_MODEL = "Student"


@dataclass
class LoadReport:
    """What `apply_params` did with one parameter file."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    shape_mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    cast: list[tuple[str, str, str]] = field(default_factory=list)  # (key, file dtype, model dtype)
    used_prefix: str | None = None

    def summary(self) -> str:
        prefix = f" (sub-model prefix {self.used_prefix!r})" if self.used_prefix else ""
        text = (
            f"{self.source}{prefix}: loaded {len(self.loaded)}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, shape-mismatched {len(self.shape_mismatched)}, "
            f"dtype-cast {len(self.cast)}"
        )
        for key, file_shape, model_shape in self.shape_mismatched[:3]:
            text += f"; {key}: file {list(file_shape)} vs model {list(model_shape)}"
        if self.missing:
            text += f"; first missing: {self.missing[0]}"
        if self.unexpected:
            text += f"; first unexpected: {self.unexpected[0]}"
        return text


def params_path_candidates(path: str | Path) -> list[Path]:
    """`x` -> [x.pdparams, x] (PaddleOCR's convention); `x.pdparams` -> [x.pdparams]."""
    path = Path(path)
    if path.name.endswith(PARAMS_SUFFIX):
        return [path]
    return [path.with_name(path.name + PARAMS_SUFFIX), path]


def read_paddle_file(path: str | Path, what: str = "a paddle.save file (.pdparams/.pdopt)") -> object:
    """`paddle.load`, with any parse failure of a damaged or foreign file turned into one ValueError that
    names the file (paddle's own messages, e.g. `invalid literal for int()`, do not)."""
    try:
        return paddle.load(str(path))
    except (ValueError, EOFError, TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError,
            RuntimeError) as exc:  # what unpickling garbage raises
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not {what}, or a damaged one ({detail}); re-create or re-download it") from None


def load_params_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `.pdparams` file (`paddle.save` of a state dict) as {key: numpy array}."""
    candidates = params_path_candidates(path)
    found = next((candidate for candidate in candidates if candidate.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"parameter file not found; tried {', '.join(str(c) for c in candidates)}")
    raw = read_paddle_file(found, "a parameter file (paddle.save of a state dict)")
    if not isinstance(raw, dict):
        raise ValueError(
            f"{found}: expected a state dict (mapping of names to arrays), got {type(raw).__name__}"
        )
    params: dict[str, np.ndarray] = {}
    skipped = []
    for key, value in raw.items():
        if isinstance(value, paddle.Tensor):
            params[key] = value.numpy()
        elif isinstance(value, np.ndarray):
            params[key] = value
        else:
            skipped.append(key)  # e.g. "StructuredToParameterName@@" bookkeeping of old paddle.save
    if skipped:
        logger.info("%s: skipped %d non-array entries: %s", found, len(skipped), skipped[:5])
    return params


def key_prefixes(params: dict[str, np.ndarray]) -> list[str]:
    """Sorted first components of the keys (`Student` for `Student.backbone.conv.conv.weight`)."""
    return sorted({key.split(".", 1)[0] for key in params})


def extract_prefix(params: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Keys starting with `prefix.`, with that prefix removed (PaddleOCR's student/teacher extraction)."""
    head = prefix.rstrip(".") + "."
    extracted = {key[len(head) :]: value for key, value in params.items() if key.startswith(head)}
    if not extracted:
        raise ValueError(f"no keys with prefix {head!r}; prefixes present: {key_prefixes(params)}")
    return extracted


def _is_distillation_file(params: dict[str, np.ndarray]) -> bool:
    """True when every key looks like `<SubModel>.<backbone|neck|head>.…` (and none like a plain detector)."""

    def sub_model_key(key: str) -> bool:
        parts = key.split(".")
        return len(parts) > 2 and parts[0] not in DETECTOR_PARTS and parts[1] in DETECTOR_PARTS

    return bool(params) and all(sub_model_key(key) for key in params)


def _adapt_to_layer(layer: nn.Layer, params: dict[str, np.ndarray], source: str) -> tuple[dict, str | None]:
    """Resolve the file/model prefix combinations; returns (params to apply, prefix used)."""
    # Imported here: detector.py does not import this module, and this keeps the dependency one-way.
    from det_model.modeling.detector import DistillationModel

    if isinstance(layer, DistillationModel):
        plain = any(key.split(".", 1)[0] in DETECTOR_PARTS for key in params)
        if plain:
            raise ValueError(
                f"{source} holds a single detector (keys like 'backbone.…') but the model is a "
                f"DistillationModel of {layer.model_names}; set Architecture.Models.<Name>.pretrained "
                f"to load it into one sub-model"
            )
        return params, None
    if _is_distillation_file(params):
        prefixes = key_prefixes(params)
        if DEFAULT_SUB_MODEL not in prefixes:
            raise ValueError(
                f"{source} is a distillation checkpoint without {DEFAULT_SUB_MODEL!r} weights "
                f"(prefixes: {prefixes}); "
                f"extract the sub-model you want first (det-model extract-params)"
            )
        logger.info(
            "%s is a distillation checkpoint (%s); loading its %r weights",
            source,
            prefixes,
            DEFAULT_SUB_MODEL,
        )
        return extract_prefix(params, DEFAULT_SUB_MODEL), DEFAULT_SUB_MODEL
    return params, None


def _numpy_dtype(tensor: paddle.Tensor) -> np.dtype:
    return np.dtype(str(tensor.dtype).replace("paddle.", ""))


def apply_params(layer: nn.Layer, params: dict[str, np.ndarray], *, source: str) -> LoadReport:
    """Copy matching arrays into `layer` (by state-dict key) and report what matched.

    Shape mismatches are skipped and listed; dtypes are cast to the model's. Raises ValueError when the
    file and model prefixes are incompatible (see module doc) or when not a single key matches.
    """
    params, used_prefix = _adapt_to_layer(layer, params, source)
    report = LoadReport(source=source, used_prefix=used_prefix)
    state = layer.state_dict()
    report.missing = [key for key in state if key not in params]
    for key, value in params.items():
        target = state.get(key)
        if target is None:
            report.unexpected.append(key)
            continue
        value = np.asarray(value)
        model_shape = tuple(int(size) for size in target.shape)
        if tuple(value.shape) != model_shape:
            report.shape_mismatched.append((key, tuple(value.shape), model_shape))
            continue
        dtype = _numpy_dtype(target)
        if value.dtype != dtype:
            report.cast.append((key, str(value.dtype), str(dtype)))
            value = value.astype(dtype)
        target.set_value(value)
        report.loaded.append(key)
    if not report.loaded:
        raise ValueError(
            f"{source}: none of its {len(params)} keys match the model (first file keys {list(params)[:3]}, "
            f"first model keys {list(state)[:3]}); {report.summary()}"
        )
    logger.info("%s", report.summary())
    for key, file_shape, model_shape in report.shape_mismatched:
        logger.warning(
            "%s: %s skipped, file shape %s vs model %s", source, key, list(file_shape), list(model_shape)
        )
    return report


THRESHOLD_BRANCH = "head.thresh."  # DB's training-only threshold branch, absent from inference exports


def is_threshold_branch(key: str) -> bool:
    """`head.thresh.*`, also inside a sub-model (`Student.head.thresh.*`)."""
    return key.startswith(THRESHOLD_BRANCH) or f".{THRESHOLD_BRANCH}" in key


def _part(key: str) -> str:
    """`backbone`, `neck` or `head` of a (possibly sub-model-prefixed) state key."""
    parts = key.split(".")
    return parts[1] if parts[0] not in DETECTOR_PARTS and len(parts) > 1 else parts[0]


def _backbone_only(report: LoadReport) -> bool:
    """The file holds backbone weights only (PaddleOCR's ImageNet `pretrain_models`), all of which loaded."""
    in_file = report.loaded + report.unexpected + [key for key, _, _ in report.shape_mismatched]
    return bool(report.loaded) and all(_part(key) == "backbone" for key in in_file)


def require_fit(report: LoadReport, what: str, *, full: bool = False) -> None:
    """The loading rule for weights a run depends on: every model key must have been loaded with its shape,
    except (unless `full`) the DB head's threshold branch, which inference exports and `det-model
    import-onnx` do not have (training then starts that branch from initialisation), and the neck and head
    when the file holds a backbone only (ImageNet initialisation, as PaddleOCR's pretrain_models). Raises
    ValueError naming the counts and the first missing / mismatched keys; a frozen sub-model must load in full."""
    backbone_only = not full and _backbone_only(report)
    missing = [key for key in report.missing
               if full or not (is_threshold_branch(key) or (backbone_only and _part(key) != "backbone"))]
    if not missing and not report.shape_mismatched:
        if len(missing) != len(report.missing):
            logger.warning("%s=%s: %d keys start from initialisation (first: %s)", what, report.source,
                           len(report.missing), report.missing[0])
        return
    total = len(report.loaded) + len(report.missing) + len(report.shape_mismatched)
    parts = [f"loaded {len(report.loaded)} of {total} model keys"]
    if missing:
        parts.append(f"missing {len(missing)} (first: {', '.join(missing[:3])})")
    if report.shape_mismatched:
        key, theirs, ours = report.shape_mismatched[0]
        parts.append(f"shape-mismatched {len(report.shape_mismatched)} (first: {key} file {list(theirs)} vs "
                     f"model {list(ours)})")
    rule = ("a frozen sub-model must load in full" if full else
            f"only the DB head's threshold branch ({THRESHOLD_BRANCH}*) may be missing")
    raise ValueError(f"{what}={report.source} does not fit the model: {'; '.join(parts)}; {rule}. Is it the "
                     "right file for this Architecture (e.g. a teacher's weights for a student)?")


def load_weights(layer: nn.Layer, path: str | Path) -> LoadReport:
    """load_params_file + apply_params, with the file as the report's source."""
    return apply_params(layer, load_params_file(path), source=str(path))


def save_params(params: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write {key: array} as a `.pdparams` file (suffix added when missing); returns the path written."""
    target = Path(path)
    if not target.name.endswith(PARAMS_SUFFIX):
        target = target.with_name(target.name + PARAMS_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    paddle.save({key: paddle.to_tensor(value) for key, value in params.items()}, str(target))
    return target
