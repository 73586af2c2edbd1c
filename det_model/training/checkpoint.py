"""PaddleOCR's checkpoint layout: `<dir>/<prefix>.{pdparams,pdopt,states}`, written atomically.

`.states` is a pickle (protocol 2) of {"best_model_dict", "epoch", "global_step"}, as PaddleOCR writes it,
plus (ours) "epoch_step", "elapsed_s", "log_sizes" and "loss_window". Unlike PaddleOCR, resuming restores
`global_step` and the position inside the epoch too, so a resumed run trains exactly the steps an
uninterrupted run would (a `best_accuracy` written mid-epoch resumes mid-epoch) and rewinds metrics.jsonl /
train.log to the checkpoint.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paddle

from det_model.config.schema import DetConfig
from det_model.modeling.weights import (
    LoadReport,
    apply_params,
    load_params_file,
    load_weights,
    read_paddle_file,
    require_fit,
)

logger = logging.getLogger(__name__)

SUFFIXES = (".pdparams", ".pdopt", ".states")
BEST = "best_accuracy"  # the checkpoint with the best main metric so far (PaddleOCR's name)
LATEST = "latest"  # the checkpoint of the last finished epoch, the one a resume reads


@dataclass
class TrainState:
    epoch: int = 0  # completed epochs
    global_step: int = 0
    best_model_dict: dict[str, Any] = field(default_factory=dict)
    epoch_step: int = 0  # batches of epoch `epoch + 1` already trained (a checkpoint written mid-epoch)
    elapsed_s: float = 0.0  # training time before this process, so metrics.jsonl's clock continues
    log_sizes: dict[str, int] = field(default_factory=dict)  # metrics.jsonl / train.log bytes at the save
    loss_window: dict[str, list[float]] = field(default_factory=dict)  # the smoothed losses' recent values

    def to_states(self) -> dict[str, Any]:
        return {
            "best_model_dict": dict(self.best_model_dict),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "epoch_step": self.epoch_step,
            "elapsed_s": self.elapsed_s,
            "log_sizes": dict(self.log_sizes),
            "loss_window": {k: list(v) for k, v in self.loss_window.items()},
        }

    @classmethod
    def from_states(cls, states: dict[str, Any]) -> "TrainState":
        return cls(
            epoch=int(states.get("epoch", 0)),
            global_step=int(states.get("global_step", 0)),
            best_model_dict=dict(states.get("best_model_dict", {})),
            epoch_step=int(states.get("epoch_step", 0)),
            elapsed_s=float(states.get("elapsed_s", 0.0)),
            log_sizes={str(k): int(v) for k, v in dict(states.get("log_sizes", {})).items()},
            loss_window={str(k): [float(x) for x in v] for k, v in dict(states.get("loss_window", {})).items()},
        )


def _atomic_write(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    return tmp


def _rename_state(state: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Rename optimizer-state keys `<param name>_<accumulator>` (and master weights) with `names`.

    Paddle keys optimizer state by auto-generated parameter names (`conv2d_508.w_0`), which depend on how
    many layers the process built before; structured names (`backbone.conv.conv.weight`) do not.
    """
    ordered = sorted(names, key=len, reverse=True)

    def rename(key: str) -> str:
        if key in names:
            return names[key]
        for name in ordered:
            if key.startswith(name + "_"):
                return names[name] + key[len(name) :]
        return key

    renamed: dict[str, Any] = {}
    for key, value in state.items():
        if key == "master_weights" and isinstance(value, dict):
            renamed[key] = {rename(k): v for k, v in value.items()}
        elif key == "LR_Scheduler":
            renamed[key] = value
        else:
            renamed[rename(key)] = value
    return renamed


def _structured_names(model: paddle.nn.Layer) -> dict[str, str]:
    return {param.name: key for key, param in model.named_parameters()}


def save_checkpoint(
    directory: str | Path,
    prefix: str,
    model: paddle.nn.Layer,
    optimizer: paddle.optimizer.Optimizer,
    state: TrainState,
) -> Path:
    """Write the three files to temporaries first, then rename them into place (a crash leaves the old set).
    When writing fails (disk full, read-only folder) the temporaries are removed and an OSError names the
    checkpoint and what to do; the previous checkpoint of that prefix is untouched."""
    directory = Path(directory)
    base = directory / prefix
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporaries = _write_temporaries(base, model, optimizer, state)
    except OSError as exc:
        for leftover in directory.glob(f".{prefix}.*.tmp") if directory.is_dir() else ():
            leftover.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write checkpoint {base}.* ({exc.strerror or exc}); the previous "
                      f"{prefix} is kept and partial files were removed: free space there or set "
                      "Global.save_model_dir to another folder", str(directory)) from None
    for tmp, suffix in temporaries:
        os.replace(tmp, Path(f"{base}{suffix}"))
    return base


def _write_temporaries(base: Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer,
                       state: TrainState) -> list[tuple[Path, str]]:
    optimizer_state = _rename_state(optimizer.state_dict(), _structured_names(model))
    states = state.to_states()
    return [
        (
            _atomic_write(base.with_suffix(".pdparams"), lambda p: paddle.save(model.state_dict(), str(p))),
            ".pdparams",
        ),
        (_atomic_write(base.with_suffix(".pdopt"), lambda p: paddle.save(optimizer_state, str(p))), ".pdopt"),
        (
            _atomic_write(
                base.with_suffix(".states"), lambda p: p.write_bytes(pickle.dumps(states, protocol=2))
            ),
            ".states",
        ),
    ]


def checkpoint_prefix(path: str | Path) -> Path:
    """`dir/latest`, `dir/latest.pdparams` or a checkpoint folder (then `latest` inside) -> `dir/latest`."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    if path.suffix in SUFFIXES:
        path = path.with_suffix("")
    return path


def _resolve(path: str | Path) -> Path:
    """checkpoint_prefix, saying which checkpoint a folder stands for (it is easy to mean best_accuracy)."""
    base = checkpoint_prefix(path)
    if Path(path).is_dir():
        logger.warning("Global.checkpoints=%s is a folder: loading %s (give %s for the best one)", path, base,
                       base.with_name(BEST))
    return base


def load_checkpoint_params(path: str | Path, model: paddle.nn.Layer) -> Path:
    """The weights of a checkpoint, strictly: every model key must be in the file with its shape."""
    source = Path(f"{_resolve(path)}.pdparams")
    report = apply_params(model, load_params_file(source), source=str(source))
    if report.missing or report.shape_mismatched:
        raise ValueError(f"Global.checkpoints={path} does not fit this model: {report.summary()}")
    return source


def load_checkpoint(
    path: str | Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer | None
) -> TrainState:
    """Resume (`Global.checkpoints`): weights, optimizer + lr schedule, epoch, global step and best metrics."""
    base = _resolve(path)
    missing = [f"{base}{s}" for s in SUFFIXES if not Path(f"{base}{s}").exists()]
    if missing:
        raise FileNotFoundError(
            f"Global.checkpoints={path}: incomplete checkpoint, missing {', '.join(missing)}"
        )
    load_checkpoint_params(base, model)
    if optimizer is not None:
        structured_to_current = {v: k for k, v in _structured_names(model).items()}
        optimizer_state = read_paddle_file(f"{base}.pdopt", "an optimizer state file")
        optimizer.set_state_dict(_rename_state(optimizer_state, structured_to_current))
    states = _read_states(Path(f"{base}.states"))
    state = TrainState.from_states(states)
    logger.info("resumed from %s: epoch %d (+%d batches), global step %d", base, state.epoch, state.epoch_step,
                state.global_step)
    return state


def _read_states(path: Path) -> dict[str, Any]:
    try:
        states = pickle.loads(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
            KeyError) as exc:
        raise ValueError(f"{path}: not a checkpoint .states file, or a damaged one ({exc})") from None
    if not isinstance(states, dict):
        raise ValueError(f"{path}: expected a dict of training states, got {type(states).__name__}")
    return states


def load_pretrained(path: str | Path, model: paddle.nn.Layer) -> LoadReport:
    """`Global.pretrained_model`: weights only, prefix-aware; it must fit the model (`require_fit`: only the
    DB threshold branch, or neck and head after a backbone-only file, may be missing)."""
    report = load_weights(model, path)
    logger.info("Global.pretrained_model=%s: %s", path, report.summary())
    require_fit(report, "Global.pretrained_model")
    return report


def load_eval_weights(cfg: DetConfig, model: paddle.nn.Layer) -> str:
    """Load `Global.checkpoints` (strict: every model key must be present) or else `Global.pretrained_model`
    (it must fit: `require_fit`). Returns what was loaded, for the record. Distillation sub-models may already
    hold their `Architecture.Models.<Name>.pretrained` weights (loaded by build_model).
    """
    g = cfg.Global
    if g.checkpoints:
        return str(load_checkpoint_params(g.checkpoints, model))
    if g.pretrained_model:
        require_fit(load_weights(model, g.pretrained_model), "Global.pretrained_model")
        return str(g.pretrained_model)
    sub_models = cfg.Architecture.Models if cfg.is_distillation else {}
    if sub_models and all(sub.pretrained for sub in sub_models.values()):
        return "Architecture.Models.*.pretrained"
    raise ValueError(
        f"{cfg.source or 'config'}: no weights to evaluate; set -o Global.checkpoints=<dir>/best_accuracy "
        "or Global.pretrained_model=<file>.pdparams"
    )
