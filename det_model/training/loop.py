"""`det-model train`: the PaddleOCR training loop (tools/train.py + program.train), in small pieces.

Per iteration: forward, named loss terms, finite check, backward, optimizer step, lr step, global_step += 1.
Evaluation follows `Global.eval_batch_step`; `best_accuracy` is saved when hmean >= best; `latest` at the end
of every epoch; `iter_epoch_{E}` every `save_epoch_step` epochs. Only rank 0 writes files and logs.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from det_model.config import DetConfig, dump_config, schema
from det_model.data.dataset import build_dataloader
from det_model.data.skips import NoUsableDataError, SkipStats
from det_model.losses import build_loss
from det_model.modeling.build import build_model, frozen_left_at_init
from det_model.progress import progress
from det_model.training.amp import AmpContext
from det_model.training.checkpoint import (
    BEST,
    LATEST,
    TrainState,
    checkpoint_prefix,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
)
from det_model.training.distributed import DistributedEnv, setup_device
from det_model.training.history import (
    METRICS_LOG,
    MetricsHistory,
    SmoothedLosses,
    file_sizes,
    rewind_logs,
)
from det_model.training.schedule import build_lr_scheduler
from det_model.training.target_watch import EmptyTargetWatch, crop_hint

logger = logging.getLogger(__name__)


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite; nothing is saved from that step on."""


@dataclass(frozen=True)
class TrainResult:
    save_model_dir: Path
    best_metrics: dict[str, float]
    epochs: int
    global_step: int


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def eval_due(global_step: int, start: int, interval: int) -> bool:
    """PaddleOCR: evaluate when global_step > start and (global_step - start) % interval == 0."""
    return interval > 0 and global_step > start and (global_step - start) % interval == 0


def check_finite(losses: dict[str, paddle.Tensor], epoch: int, global_step: int, save_dir: Path) -> None:
    bad = {k: float(v.mean()) for k, v in losses.items() if not math.isfinite(float(v.mean()))}
    if bad:
        terms = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDivergedError(
            f"loss is not finite at epoch {epoch}, global step {global_step + 1} ({terms}); training stopped. "
            f"The last good checkpoint is {save_dir / LATEST} (if an epoch finished before). "
            "Lower Optimizer.lr.learning_rate, check the labels, or disable Global.use_amp."
        )


@dataclass(frozen=True)
class Loaders:
    """The batches one run reads: Train on every rank, Eval on the main rank only (None: no evaluation)."""

    train: Iterable[Any]
    eval: Iterable[Any] | None = None


# (model, eval loader) -> the metric's dict; det_model.evaluation.evaluator(cfg) builds one.
EvaluateFn = Callable[[paddle.nn.Layer, Iterable[Any]], dict[str, float]]


def build_loaders(cfg: DetConfig, env: DistributedEnv) -> Loaders:
    """Train loader (sharded by rank) and, on the main rank, the Eval loader of `cfg`."""
    if cfg.Train is None:
        raise ValueError(f"{cfg.source}: a Train section is required for training")
    train_loader = build_dataloader(
        cfg.Train, mode="train", seed=cfg.Global.seed, world_size=env.world_size, rank=env.rank
    )
    eval_loader = None
    if cfg.Eval is not None and env.is_main:
        eval_loader = build_dataloader(cfg.Eval, mode="eval", seed=cfg.Global.seed)
    return Loaders(train_loader, eval_loader)


class Trainer:
    """Holds what one training run needs (loaders, model, loss, optimizer, schedule, state); `fit()` runs it."""

    def __init__(self, cfg: DetConfig, env: DistributedEnv, loaders: Loaders, evaluate: EvaluateFn | None):
        if cfg.Train is None:
            raise ValueError(f"{cfg.source}: a Train section is required for training")
        self.cfg = cfg
        self.env = env
        self.save_dir = Path(cfg.Global.save_model_dir)
        self.train_loader = loaders.train
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{cfg.source}: the Train loader yields no batch (fewer images than one batch with drop_last?)"
            )
        self.eval_loader = loaders.eval if evaluate is not None else None
        self.evaluate = evaluate
        self.model = build_model(cfg.Architecture, frozen_in_eval_mode=_frozen_in_eval_mode(cfg))
        self.loss_fn = build_loss(cfg.Loss)
        self.scheduler = build_lr_scheduler(cfg.Optimizer.lr, self.steps_per_epoch, cfg.Global.epoch_num)
        self.optimizer = _build_optimizer(cfg.Optimizer, self.scheduler, self.model.trainable_parameters())
        self.amp = AmpContext.from_config(cfg.Global)
        self.model, self.optimizer = self.amp.decorate(self.model, self.optimizer)
        self.state = TrainState()
        self._load_weights()
        self.train_model = paddle.DataParallel(self.model) if env.world_size > 1 else self.model
        if env.is_main and self._resumes_here():
            rewind_logs(self.save_dir, self.state.log_sizes)
        self.history = MetricsHistory(self.save_dir / METRICS_LOG if env.is_main else None,
                                      elapsed_before=self.state.elapsed_s)
        self.smoothed = SmoothedLosses(cfg.Global.log_smooth_window, self.state.loss_window)
        self.target_watch = EmptyTargetWatch(crop_hint(cfg.Train.dataset.transforms))
        self._eval_start, self._eval_interval = self._eval_schedule()

    # ------------------------------------------------------------------------------------------ setup
    def _load_weights(self) -> None:
        g = self.cfg.Global
        if g.checkpoints:  # strict: every key, frozen sub-models included
            self.state = load_checkpoint(g.checkpoints, self.model, self.optimizer)
            return
        loaded = set(load_pretrained(g.pretrained_model, self.model).loaded) if g.pretrained_model else set()
        for name in frozen_left_at_init(self.cfg.Architecture, loaded):
            raise ValueError(
                f"Architecture.Models.{name}.freeze_params is true but no weights are loaded into {name} "
                f"(Architecture.Models.{name}.pretrained is empty): distilling from a random frozen model "
                f"teaches nothing; set -o Architecture.Models.{name}.pretrained=<file>.pdparams (the CML "
                "teacher is a DML run's student: det-model extract-params --prefix Student "
                "<DML save_model_dir>/best_accuracy.pdparams <file>)")

    def _resumes_here(self) -> bool:
        """Resuming from a checkpoint of this save_model_dir: its logs continue (and are rewound to it)."""
        g = self.cfg.Global
        return bool(g.checkpoints) and checkpoint_prefix(g.checkpoints).parent.resolve() == self.save_dir.resolve()

    def _eval_schedule(self) -> tuple[int, int]:
        g = self.cfg.Global
        if g.eval_batch_epoch:
            start, interval = 0, self.steps_per_epoch * g.eval_batch_epoch
        else:
            start, interval = g.eval_batch_step
        total = self.steps_per_epoch * g.epoch_num
        if self.env.is_main and self.cfg.Eval is None:
            logger.warning("no Eval section: no evaluation, no best_accuracy checkpoint")
        elif self.env.is_main and (interval <= 0 or start + interval > total):
            logger.warning(
                "Global.eval_batch_step=[%d, %d] never triggers within the %d training steps (%d per epoch): "
                "no best_accuracy will be written; lower it, e.g. -o Global.eval_batch_step=[0,%d]",
                start,
                interval,
                total,
                self.steps_per_epoch,
                max(1, self.steps_per_epoch),
            )
        return start, interval

    # ------------------------------------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        g = self.cfg.Global
        log_handler = None
        if self.env.is_main:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            dump_config(self.cfg, self.save_dir / "config.yml")
            log_handler = _attach_log_file(self.save_dir / "train.log")
        if self.env.world_size > 1:
            self._log_share(self.state.epoch + 1)
        total = self.steps_per_epoch * g.epoch_num
        # Without a terminal the `epoch: [e/E], global_step: ...` log lines are the progress lines.
        bar = progress(total=total, initial=self.state.global_step, enabled=self.env.is_main, plain=False,
                       unit="steps", desc="train")
        try:
            for epoch in range(self.state.epoch + 1, g.epoch_num + 1):
                self.train_one_epoch(epoch, bar)
                self.state.epoch, self.state.epoch_step = epoch, 0
                if self.env.is_main:
                    self._save(LATEST)
                    if g.save_epoch_step > 0 and epoch % g.save_epoch_step == 0:
                        self._save(f"iter_epoch_{epoch}")
        finally:
            bar.close()
            self.history.close()
            if log_handler is not None:
                logging.getLogger().removeHandler(log_handler)
                log_handler.close()
        best = {k: float(v) for k, v in self.state.best_model_dict.items() if isinstance(v, (int, float))}
        if self.env.is_main:
            logger.info(
                "training done: %d epochs, %d steps, best %s", self.state.epoch, self.state.global_step, best
            )
        return TrainResult(self.save_dir, best, self.state.epoch, self.state.global_step)

    def _log_share(self, epoch: int) -> None:
        """Every rank names its share of the Train set (data parallel: each rank reads other batches)."""
        share = getattr(self.train_loader, "share", None)
        if share is None or epoch > self.cfg.Global.epoch_num:
            return
        count, first = share(epoch)
        logger.info(
            "data parallel: rank %d of %d trains on %d of %d samples an epoch; epoch %d starts with %s",
            self.env.rank, self.env.world_size, count, len(self.train_loader.dataset), epoch, ", ".join(first)
        )  # fmt: skip

    def _save(self, prefix: str) -> None:
        """A checkpoint that also records the training clock and the log sizes (for an exact resume)."""
        self.state.elapsed_s = self.history.elapsed()
        self.state.loss_window = self.smoothed.recent()
        self.state.log_sizes = file_sizes([self.save_dir / METRICS_LOG, self.save_dir / "train.log"])
        save_checkpoint(self.save_dir, prefix, self.model, self.optimizer, self.state)

    def train_one_epoch(self, epoch: int, bar: Any) -> None:
        """Train one epoch; the first `state.epoch_step` batches are passed over when resuming mid-epoch."""
        _set_epoch(self.train_loader, epoch)
        self.train_model.train()
        resume_at, batches = self.state.epoch_step, 0
        tick = time.perf_counter()
        for batch_index, batch in enumerate(self.train_loader):
            batches += 1
            if batch is None or batch_index < resume_at:  # None: every sample skipped (counted by the loader)
                tick = time.perf_counter()
                continue
            self._train_batch(epoch, batch_index, batch, tick, bar)
            tick = time.perf_counter()
        self._record_skips(epoch, batches)

    def _train_batch(self, epoch: int, batch_index: int, batch: dict[str, Any], tick: float, bar: Any) -> None:
        g = self.cfg.Global
        lr = self.optimizer.get_lr()
        losses = self.train_step(batch)
        check_finite(losses, epoch, self.state.global_step, self.save_dir)
        self.state.global_step += 1
        self.state.epoch_step += 1
        if self.state.epoch_step == self.steps_per_epoch:  # the epoch is complete (for a best_accuracy save)
            self.state.epoch, self.state.epoch_step = epoch, 0
        batch_size = int(batch["image"].shape[0])
        elapsed = time.perf_counter() - tick
        if self.env.is_main:
            self.target_watch.observe(batch, self.state.global_step)
        self.smoothed.update({k: float(v.mean()) for k, v in losses.items()})
        bar.update(1)
        bar.set_postfix(
            loss=f"{self.smoothed.median('loss'):.4f}", lr=f"{lr:.2e}", ips=f"{batch_size / elapsed:.1f}"
        )
        last_in_epoch = batch_index == self.steps_per_epoch - 1
        if self.env.is_main and (self.state.global_step % g.print_batch_step == 0 or last_in_epoch):
            self._log_train(epoch, lr, batch_size / elapsed)
        if self.eval_loader is not None and eval_due(
            self.state.global_step, self._eval_start, self._eval_interval
        ):
            self.evaluate_and_keep_best(epoch)
            self.train_model.train()

    def _record_skips(self, epoch: int, batches: int) -> None:
        """Skipped samples by reason go to metrics.jsonl; an epoch without a single usable batch stops the run
        (nothing is saved: an untrained `latest` must not look like a result)."""
        skipped = SkipStats()
        dataset = getattr(self.train_loader, "dataset", None)
        for stats in (getattr(dataset, "load_skips", None), getattr(self.train_loader, "epoch_skips", None)):
            if stats:
                skipped.merge(stats)
        if batches == 0:
            files = list(self.cfg.Train.dataset.label_file_list)
            raise NoUsableDataError(f"Train.dataset.label_file_list {files}: no usable training sample in "
                                    f"epoch {epoch} (nothing was trained in it, latest is not written); "
                                    f"skipped:\n{skipped.summary()}")
        if skipped:
            self.history.write({"type": "skips", "epoch": epoch, "global_step": self.state.global_step,
                                "skipped": dict(sorted(skipped.counts.items()))})

    def train_step(self, batch: dict[str, Any]) -> dict[str, paddle.Tensor]:
        with self.amp.autocast():
            predictions = self.train_model(batch["image"])
        losses = self.loss_fn(self.amp.to_float32(predictions), batch)
        loss = losses["loss"]
        # PaddleOCR's DML vector reduction makes `loss` [B]; backward of a vector uses ones, i.e. its sum.
        objective = loss.sum() if loss.ndim > 0 else loss
        self.amp.backward_and_step(objective, self.optimizer)
        self.optimizer.clear_grad()
        self.scheduler.step()
        return losses

    # ------------------------------------------------------------------------------------- evaluation
    def evaluate_and_keep_best(self, epoch: int) -> dict[str, float]:
        with self.amp.autocast():
            metrics = self.evaluate(self.model, self.eval_loader)
        main = self.cfg.Metric.main_indicator
        current = float(metrics.get(main, 0.0))
        best = float(self.state.best_model_dict.get(main, 0.0))
        improved = current >= best  # PaddleOCR uses >=, so the first evaluation always saves
        if improved:
            self.state.best_model_dict = {**metrics, "best_epoch": epoch}
        record = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        self.history.write({"type": "eval", "epoch": epoch, "global_step": self.state.global_step, **record})
        logger.info(
            "eval at epoch %d, step %d: %s%s",
            epoch,
            self.state.global_step,
            ", ".join(f"{k}: {v:.4f}" for k, v in record.items()),
            " (new best_accuracy)" if improved else f" (best {main} {best:.4f})",
        )
        if improved:  # after the record and the log line, so that a resume from it keeps both
            self._save(BEST)
        return metrics

    def _log_train(self, epoch: int, lr: float, ips: float) -> None:
        smoothed = self.smoothed.medians()
        self.history.write(
            {
                "type": "train",
                "epoch": epoch,
                "global_step": self.state.global_step,
                "lr": lr,
                "ips": ips,
                **smoothed,
            }
        )
        terms = ", ".join(f"{k}: {v:.5f}" for k, v in smoothed.items())
        logger.info(
            "epoch: [%d/%d], global_step: %d, lr: %.6f, %s, ips: %.2f samples/s",
            epoch,
            self.cfg.Global.epoch_num,
            self.state.global_step,
            lr,
            terms,
            ips,
        )


# ---------------------------------------------------------------------------------------- helpers


def _attach_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def _frozen_in_eval_mode(cfg: DetConfig) -> bool:
    return cfg.Architecture.frozen_in_eval_mode if cfg.is_distillation else True


def _build_optimizer(cfg: schema.OptimizerConfig, scheduler, parameters: list) -> paddle.optimizer.Optimizer:
    if cfg.name != "Adam":
        raise ValueError(f"Optimizer.name {cfg.name!r}; known: Adam")
    # A float weight_decay is Paddle's coupled L2 (added to the gradient), as PaddleOCR passes its L2 factor.
    decay = cfg.regularizer.factor if cfg.regularizer is not None else None
    return paddle.optimizer.Adam(
        learning_rate=scheduler,
        beta1=cfg.beta1,
        beta2=cfg.beta2,
        epsilon=cfg.epsilon,
        parameters=parameters,
        weight_decay=decay or None,
    )


def _set_epoch(loader, epoch: int) -> None:
    for obj in (getattr(loader, "dataset", None), getattr(loader, "batch_sampler", None)):
        if obj is not None and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def idle_cores_hint(env: DistributedEnv, cores: int) -> str | None:
    """Paddle's CPU training kernels use one core per process (more threads make a step slower), so a
    single CPU process leaves the other cores idle; data parallel processes use them."""
    if env.device != "cpu" or env.world_size > 1 or cores < 2:
        return None
    return (f"training on CPU in one process uses 1 of {cores} cores; `det-model train --nproc {cores} ...` "
            "(with Train.loader.batch_size_per_card divided by it) trains data parallel on all of them")


def train(cfg: DetConfig, *, evaluate: EvaluateFn | None) -> TrainResult:
    """Train per `cfg` (single process, or one rank of `paddle.distributed.launch`), evaluating with
    `evaluate` on the Eval set when one is due (None: never evaluate)."""
    env = setup_device(cfg.Global)
    logger.info("device %s, world size %d, rank %d", env.device, env.world_size, env.rank)
    hint = idle_cores_hint(env, usable_cores())
    if hint:
        logger.info(hint)
    set_seed(cfg.Global.seed)
    trainer = Trainer(cfg, env, build_loaders(cfg, env), evaluate)
    return trainer.fit()
