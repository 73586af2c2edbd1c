"""Config dataclasses -> layers (PaddleOCR `ppocr/modeling/architectures/__init__.py` build_model).

Channel counts flow from each module's `out_channels` to the next constructor; the config is never
written back (PaddleOCR mutates its config dict to pass them along).
"""

from __future__ import annotations

import logging

from paddle import nn

from det_model.config.schema import (
    ArchitectureConfig,
    BackboneConfig,
    DBHeadConfig,
    DetModelConfig,
    DistillationModelConfig,
    HeadConfig,
    LKPANConfig,
    MobileNetV3Config,
    NeckConfig,
    ResNetVdConfig,
    RSEFPNConfig,
)
from det_model.modeling.backbones.mobilenet_v3 import MobileNetV3
from det_model.modeling.backbones.resnet_vd import ResNet_vd
from det_model.modeling.detector import DBDetector, DistillationModel
from det_model.modeling.heads.db_head import DBHead
from det_model.modeling.necks.lk_pan import LKPAN
from det_model.modeling.necks.rse_fpn import RSEFPN
from det_model.modeling.weights import load_weights, require_fit

logger = logging.getLogger(__name__)


def build_backbone(cfg: BackboneConfig) -> nn.Layer:
    if isinstance(cfg, MobileNetV3Config):
        return MobileNetV3(
            in_channels=cfg.in_channels, model_name=cfg.model_name, scale=cfg.scale, disable_se=cfg.disable_se
        )
    if isinstance(cfg, ResNetVdConfig):
        return ResNet_vd(in_channels=cfg.in_channels, layers=cfg.layers)
    raise ValueError(f"unknown Backbone {getattr(cfg, 'name', cfg)!r}; known: MobileNetV3, ResNet_vd")


def build_neck(cfg: NeckConfig, in_channels: list[int]) -> nn.Layer:
    if isinstance(cfg, RSEFPNConfig):
        return RSEFPN(in_channels, out_channels=cfg.out_channels, shortcut=cfg.shortcut)
    if isinstance(cfg, LKPANConfig):
        return LKPAN(in_channels, out_channels=cfg.out_channels, mode=cfg.mode)
    raise ValueError(f"unknown Neck {getattr(cfg, 'name', cfg)!r}; known: RSEFPN, LKPAN")


def build_head(cfg: HeadConfig, in_channels: int) -> nn.Layer:
    if isinstance(cfg, DBHeadConfig):
        return DBHead(in_channels, k=cfg.k, kernel_list=tuple(cfg.kernel_list))
    raise ValueError(f"unknown Head {getattr(cfg, 'name', cfg)!r}; known: DBHead")


def build_detector(cfg: DetModelConfig) -> DBDetector:
    """Backbone -> Neck -> Head for one DB model (`pretrained`/`freeze_params` are build_model's job)."""
    backbone = build_backbone(cfg.Backbone)
    neck = build_neck(cfg.Neck, list(backbone.out_channels))
    head = build_head(cfg.Head, neck.out_channels)
    return DBDetector(backbone, neck, head, return_all_feats=cfg.return_all_feats)


def frozen_left_at_init(arch: ArchitectureConfig, loaded: set[str]) -> list[str]:
    """Frozen sub-models that no weights were loaded into (`loaded`: keys Global.pretrained_model set)."""
    if not isinstance(arch, DistillationModelConfig):
        return []
    return [name for name, sub in arch.Models.items()
            if sub.freeze_params and not sub.pretrained and not any(k.startswith(f"{name}.") for k in loaded)]


def build_model(
    arch: ArchitectureConfig, *, load_pretrained: bool = True, frozen_in_eval_mode: bool = True
) -> nn.Layer:
    """Build `Architecture`: a DBDetector, or a DistillationModel of named DBDetectors.

    Sub-model `pretrained` paths are loaded when `load_pretrained` (PaddleOCR loads them at construction);
    `freeze_params` sub-models are frozen. `Global.pretrained_model`/`checkpoints` are the trainer's job.
    """
    if isinstance(arch, DetModelConfig):
        if arch.pretrained or arch.freeze_params:
            logger.warning(
                "Architecture.pretrained/freeze_params only apply inside DistillationModel.Models; "
                "ignored here (use Global.pretrained_model)"
            )
        return build_detector(arch)
    if isinstance(arch, DistillationModelConfig):
        models = {}
        for name, sub_cfg in arch.Models.items():
            model = build_detector(sub_cfg)
            if load_pretrained and sub_cfg.pretrained:
                report = load_weights(model, sub_cfg.pretrained)
                logger.info("Architecture.Models.%s.pretrained: %s", name, report.summary())
                # A frozen sub-model (the CML teacher) is never trained: anything left at init stays random.
                require_fit(report, f"Architecture.Models.{name}.pretrained", full=sub_cfg.freeze_params)
            models[name] = model
        frozen = {name for name, sub_cfg in arch.Models.items() if sub_cfg.freeze_params}
        return DistillationModel(models, frozen, frozen_in_eval_mode=frozen_in_eval_mode)
    raise ValueError(
        f"unknown Architecture {getattr(arch, 'name', arch)!r}; known: BaseModel, DistillationModel"
    )
