"""Typed, frozen view of a PaddleOCR detection config.

Field names are PaddleOCR's YAML keys, so `-o Section.key=value` works as users know it. Sections that
PaddleOCR dispatches by `name` (Backbone, Neck, Head, Loss, PostProcess, Metric, lr, regularizer) or by a
single-key mapping (transforms, loss_config_list) become one dataclass per name; the loader picks the class
from the `*_BY_NAME` tables below and rejects unknown names, listing the known ones.

Fields marked "(ours)" are not in PaddleOCR; each one documents the PaddleOCR behaviour it switches.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal, Optional, Union

# --------------------------------------------------------------------------------------------- Global


@dataclass(frozen=True)
class GlobalConfig:
    debug: bool = False
    use_gpu: bool = True
    epoch_num: int = 500
    log_smooth_window: int = 20
    print_batch_step: int = 10
    save_model_dir: str = "./output/det/"
    save_epoch_step: int = 100
    # [start, interval]: evaluate when global_step > start and (global_step - start) % interval == 0.
    eval_batch_step: tuple[int, int] = (0, 400)
    cal_metric_during_train: bool = False
    pretrained_model: Optional[str] = None
    checkpoints: Optional[str] = None
    save_inference_dir: Optional[str] = None
    use_visualdl: bool = False
    infer_img: Optional[str] = None
    save_res_path: Optional[str] = None
    # PaddleOCR overwrites this from the world size at start-up; so do we (the value is informational).
    distributed: bool = False
    d2s_train_image_shape: tuple[int, int, int] = (3, -1, -1)
    use_amp: bool = False
    amp_level: Literal["O1", "O2"] = "O2"
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    scale_loss: float = 1.0
    use_dynamic_loss_scaling: bool = False
    amp_custom_black_list: tuple[str, ...] = ()
    amp_custom_white_list: tuple[str, ...] = ()
    use_sync_bn: bool = False
    to_static: bool = False
    seed: int = 1024
    # If set, evaluate every `eval_batch_epoch` epochs instead of eval_batch_step (PaddleOCR semantics).
    eval_batch_epoch: Optional[int] = None
    calc_epoch_interval: int = 1
    # PaddleOCR 3.x: false writes the old-IR inference.pdmodel, true the PIR inference.json.
    export_with_pir: bool = False
    # (ours) Also write `<dir>/<Name>/inference.onnx` at export when paddle2onnx is installed.
    export_onnx: bool = True
    # (ours) Also write `<dir>/[Student/]int8/`: the deployed model post-training quantized to int8 for CPU
    # serving, calibrated on the first `export_int8_calibration_images` images spread over Train.dataset.
    export_int8: bool = False
    export_int8_calibration_images: int = 32
    # (ours) Evaluation of a distillation model runs only the sub-model Metric.key names (PaddleOCR runs all
    # of them, teacher included, and reports the others as <Name>_hmean etc.): true does as PaddleOCR.
    eval_all_sub_models: bool = False
    # (ours) det-model eval, the evaluation inside training and the pipeline's evaluate task run the evaluated
    # detector as the inference program (det_model/program_eval.py) instead of the dygraph layers.
    eval_with_inference_program: bool = True


# --------------------------------------------------------------------------------------- Architecture


@dataclass(frozen=True)
class MobileNetV3Config:
    name: Literal["MobileNetV3"] = "MobileNetV3"
    in_channels: int = 3
    model_name: Literal["large", "small"] = "large"
    scale: float = 0.5
    disable_se: bool = False


@dataclass(frozen=True)
class ResNetVdConfig:
    name: Literal["ResNet_vd"] = "ResNet_vd"
    in_channels: int = 3
    layers: int = 50


BackboneConfig = Union[MobileNetV3Config, ResNetVdConfig]


@dataclass(frozen=True)
class RSEFPNConfig:
    name: Literal["RSEFPN"] = "RSEFPN"
    out_channels: int = 96
    shortcut: bool = True


@dataclass(frozen=True)
class LKPANConfig:
    name: Literal["LKPAN"] = "LKPAN"
    out_channels: int = 256
    mode: Literal["large", "lite"] = "large"


NeckConfig = Union[RSEFPNConfig, LKPANConfig]


@dataclass(frozen=True)
class DBHeadConfig:
    name: Literal["DBHead"] = "DBHead"
    k: int = 50
    kernel_list: tuple[int, int, int] = (3, 2, 2)


HeadConfig = DBHeadConfig


@dataclass(frozen=True)
class DetModelConfig:
    """A DB detector: Backbone -> Neck -> Head (PaddleOCR's BaseModel, or one sub-model of a distillation)."""

    Backbone: BackboneConfig
    Neck: NeckConfig
    Head: HeadConfig
    model_type: Literal["det"] = "det"
    algorithm: Literal["DB"] = "DB"
    Transform: None = None
    # Only meaningful inside DistillationModel.Models:
    pretrained: Optional[str] = None
    freeze_params: bool = False
    return_all_feats: bool = False
    name: Literal["BaseModel"] = "BaseModel"


@dataclass(frozen=True)
class DistillationModelConfig:
    """PaddleOCR's DistillationModel: named sub-models (Student, Student2, Teacher) run on the same input."""

    Models: dict[str, DetModelConfig]
    name: Literal["DistillationModel"] = "DistillationModel"
    model_type: Literal["det"] = "det"
    algorithm: Literal["Distillation"] = "Distillation"
    # (ours) Keep `freeze_params` sub-models (the CML teacher) in eval mode while training, so their BatchNorm
    # uses and keeps its running statistics. PaddleOCR leaves them in train mode: batch statistics are used
    # and the saved teacher statistics drift. false reproduces that. See docs/deviations.md.
    frozen_in_eval_mode: bool = True


ArchitectureConfig = Union[DetModelConfig, DistillationModelConfig]

# ---------------------------------------------------------------------------------------------- Loss

MainLossType = Literal["DiceLoss", "BCELoss", "MaskL1Loss", "Euclidean", "CrossEntropy"]


@dataclass(frozen=True)
class DBLossConfig:
    """DB loss: alpha * L_s + beta * L_t + L_b (DB paper eq. 9 with PaddleOCR's term choices)."""

    name: Literal["DBLoss"] = "DBLoss"
    balance_loss: bool = True
    main_loss_type: MainLossType = "DiceLoss"
    alpha: float = 5.0
    beta: float = 10.0
    ohem_ratio: float = 3.0
    eps: float = 1e-6


@dataclass(frozen=True)
class DistillationDilaDBLossConfig:
    weight: float = 1.0
    model_name_pairs: tuple[tuple[str, str], ...] = ()
    key: Optional[str] = "maps"
    balance_loss: bool = True
    main_loss_type: MainLossType = "DiceLoss"
    alpha: float = 5.0
    beta: float = 10.0
    ohem_ratio: float = 3.0
    eps: float = 1e-6
    name: str = "dila_dbloss"
    # (ours) Teacher probability threshold for the pseudo label; PaddleOCR hard-codes 0.3.
    teacher_thresh: float = 0.3


@dataclass(frozen=True)
class DistillationDMLLossConfig:
    weight: float = 1.0
    model_name_pairs: tuple[tuple[str, str], ...] = ()
    maps_name: Optional[tuple[str, ...]] = None
    key: Optional[str] = None
    act: Optional[Literal["softmax", "sigmoid"]] = None
    use_log: bool = False
    multi_head: bool = False
    dis_head: str = "ctc"
    name: str = "dml"
    # (ours) PaddleOCR's DML term is a per-sample vector that makes the summed loss non-scalar, so backward
    # effectively multiplies every scalar term by the batch size. "mean" (default) reduces it to a scalar;
    # "paddleocr" reproduces the vector behaviour. See docs/deviations.md.
    reduction: Literal["mean", "paddleocr"] = "mean"


@dataclass(frozen=True)
class DistillationDBLossConfig:
    weight: float = 1.0
    model_name_list: tuple[str, ...] = ()
    key: Optional[str] = None
    balance_loss: bool = True
    main_loss_type: MainLossType = "DiceLoss"
    alpha: float = 5.0
    beta: float = 10.0
    ohem_ratio: float = 3.0
    eps: float = 1e-6
    name: str = "db"


LossTermConfig = Union[DistillationDilaDBLossConfig, DistillationDMLLossConfig, DistillationDBLossConfig]


@dataclass(frozen=True)
class CombinedLossConfig:
    loss_config_list: tuple[LossTermConfig, ...]
    name: Literal["CombinedLoss"] = "CombinedLoss"


LossConfig = Union[DBLossConfig, CombinedLossConfig]

# ------------------------------------------------------------------------------------------ Optimizer


@dataclass(frozen=True)
class CosineLRConfig:
    """Cosine decay over all epochs with a linear warmup (warmup steps are not subtracted from T)."""

    name: Literal["Cosine"] = "Cosine"
    learning_rate: float = 0.001
    warmup_epoch: float = 0.0


@dataclass(frozen=True)
class ConstLRConfig:
    name: Literal["Const"] = "Const"
    learning_rate: float = 0.001
    warmup_epoch: float = 0.0


LRConfig = Union[CosineLRConfig, ConstLRConfig]


@dataclass(frozen=True)
class L2RegularizerConfig:
    """Coupled L2 (added to the gradient, as PaddleOCR's float weight_decay), on every trainable parameter."""

    name: Literal["L2"] = "L2"
    factor: float = 0.0


@dataclass(frozen=True)
class OptimizerConfig:
    name: Literal["Adam"] = "Adam"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    lr: LRConfig = field(default_factory=CosineLRConfig)
    regularizer: Optional[L2RegularizerConfig] = None


# ------------------------------------------------------------------------------ PostProcess and Metric


@dataclass(frozen=True)
class DBPostProcessConfig:
    name: Literal["DBPostProcess"] = "DBPostProcess"
    thresh: float = 0.3
    box_thresh: float = 0.7
    max_candidates: int = 1000
    unclip_ratio: float = 2.0
    use_dilation: bool = False
    score_mode: Literal["fast", "slow"] = "fast"
    box_type: Literal["quad", "poly"] = "quad"


@dataclass(frozen=True)
class DistillationDBPostProcessConfig:
    name: Literal["DistillationDBPostProcess"] = "DistillationDBPostProcess"
    model_name: tuple[str, ...] = ("Student",)
    key: Optional[str] = None
    thresh: float = 0.3
    box_thresh: float = 0.6
    max_candidates: int = 1000
    unclip_ratio: float = 1.5
    use_dilation: bool = False
    score_mode: Literal["fast", "slow"] = "fast"
    box_type: Literal["quad", "poly"] = "quad"


PostProcessConfig = Union[DBPostProcessConfig, DistillationDBPostProcessConfig]


@dataclass(frozen=True)
class DetMetricConfig:
    name: Literal["DetMetric"] = "DetMetric"
    main_indicator: str = "hmean"


@dataclass(frozen=True)
class DistillationMetricConfig:
    name: Literal["DistillationMetric"] = "DistillationMetric"
    base_metric_name: Literal["DetMetric"] = "DetMetric"
    main_indicator: str = "hmean"
    key: str = "Student"


MetricConfig = Union[DetMetricConfig, DistillationMetricConfig]

# ------------------------------------------------------------------------------------------ Transforms


@dataclass(frozen=True)
class DecodeImageConfig:
    img_mode: Literal["BGR", "RGB", "GRAY"] = "BGR"
    channel_first: bool = False
    ignore_orientation: bool = False


@dataclass(frozen=True)
class DetLabelEncodeConfig:
    pass


@dataclass(frozen=True)
class CopyPasteConfig:
    objects_paste_ratio: float = 0.2
    limit_paste: bool = True


@dataclass(frozen=True)
class FliplrConfig:
    p: float = 0.5


@dataclass(frozen=True)
class AffineConfig:
    rotate: tuple[float, float] = (-10.0, 10.0)


@dataclass(frozen=True)
class ResizeConfig:
    size: tuple[float, float] = (0.5, 3.0)


AugmenterConfig = Union[FliplrConfig, AffineConfig, ResizeConfig]


@dataclass(frozen=True)
class IaaAugmentConfig:
    """imgaug-compatible augmentation list; in YAML `augmenter_args: [{type: Fliplr, args: {p: 0.5}}, ...]`."""

    augmenter_args: tuple[AugmenterConfig, ...] = (FliplrConfig(), AffineConfig(), ResizeConfig())


@dataclass(frozen=True)
class EastRandomCropDataConfig:
    size: tuple[int, int] = (640, 640)
    max_tries: int = 10
    min_crop_side_ratio: float = 0.1
    keep_ratio: bool = True


@dataclass(frozen=True)
class MakeBorderMapConfig:
    shrink_ratio: float = 0.4
    thresh_min: float = 0.3
    thresh_max: float = 0.7


@dataclass(frozen=True)
class MakeShrinkMapConfig:
    shrink_ratio: float = 0.4
    min_text_size: int = 8


@dataclass(frozen=True)
class NormalizeImageConfig:
    # PaddleOCR writes `scale: 1./255.`; the loader accepts a number or an "a/b" fraction string.
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    order: Literal["hwc", "chw"] = "hwc"


@dataclass(frozen=True)
class ToCHWImageConfig:
    pass


@dataclass(frozen=True)
class KeepKeysConfig:
    keep_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetResizeForTestConfig:
    """No arguments means limit_side_len 736 / limit_type "min" (PaddleOCR's eval default)."""

    limit_side_len: Optional[int] = None
    limit_type: Optional[Literal["min", "max", "resize_long"]] = None
    image_shape: Optional[tuple[int, int]] = None
    keep_ratio: bool = False
    resize_long: Optional[int] = None


TransformConfig = Union[
    DecodeImageConfig,
    DetLabelEncodeConfig,
    CopyPasteConfig,
    IaaAugmentConfig,
    EastRandomCropDataConfig,
    MakeBorderMapConfig,
    MakeShrinkMapConfig,
    NormalizeImageConfig,
    ToCHWImageConfig,
    KeepKeysConfig,
    DetResizeForTestConfig,
]

# ------------------------------------------------------------------------------------------ Train/Eval


@dataclass(frozen=True)
class DatasetConfig:
    data_dir: str
    label_file_list: tuple[str, ...]
    transforms: tuple[TransformConfig, ...]
    name: Literal["SimpleDataSet"] = "SimpleDataSet"
    ratio_list: tuple[float, ...] = (1.0,)
    delimiter: str = "\t"
    ext_op_transform_idx: int = 2


@dataclass(frozen=True)
class LoaderConfig:
    shuffle: bool = False
    drop_last: bool = False
    batch_size_per_card: int = 1
    num_workers: int = 0
    use_shared_memory: bool = True


@dataclass(frozen=True)
class DataSectionConfig:
    dataset: DatasetConfig
    loader: LoaderConfig = field(default_factory=LoaderConfig)


# ---------------------------------------------------------------------------------------------- Root


@dataclass(frozen=True)
class DetConfig:
    Global: GlobalConfig
    Architecture: ArchitectureConfig
    Loss: LossConfig
    Optimizer: OptimizerConfig
    PostProcess: PostProcessConfig
    Metric: MetricConfig
    Train: Optional[DataSectionConfig] = None
    Eval: Optional[DataSectionConfig] = None
    # Path of the YAML this came from, for messages; not a YAML key.
    source: str = field(default="", compare=False)

    @property
    def is_distillation(self) -> bool:
        return isinstance(self.Architecture, DistillationModelConfig)


# Dispatch tables: YAML `name:` (or single mapping key) -> dataclass, derived from the Unions above, so a new
# config class is one edit (the class) plus its place in its Union.
def _classes(tp: object) -> tuple[type, ...]:
    return typing.get_args(tp) or (tp,)


def by_name(tp: object) -> dict[str, type]:
    """`name:` dispatch: each class's `name` default."""
    return {cls.__dataclass_fields__["name"].default: cls for cls in _classes(tp)}


def by_key(tp: object) -> dict[str, type]:
    """Single-key mapping dispatch (`- DecodeImage: {...}`): the class name without `Config`."""
    return {cls.__name__.removesuffix("Config"): cls for cls in _classes(tp)}


BACKBONES: dict[str, type] = by_name(BackboneConfig)
NECKS: dict[str, type] = by_name(NeckConfig)
HEADS: dict[str, type] = by_name(HeadConfig)
ARCHITECTURES: dict[str, type] = by_name(ArchitectureConfig)
LOSSES: dict[str, type] = by_name(LossConfig)
LOSS_TERMS: dict[str, type] = by_key(LossTermConfig)
LR_SCHEDULES: dict[str, type] = by_name(LRConfig)
REGULARIZERS: dict[str, type] = by_name(L2RegularizerConfig)
POSTPROCESSES: dict[str, type] = by_name(PostProcessConfig)
METRICS: dict[str, type] = by_name(MetricConfig)
TRANSFORMS: dict[str, type] = by_key(TransformConfig)
AUGMENTERS: dict[str, type] = by_key(AugmenterConfig)
DATASETS: dict[str, type] = by_name(DatasetConfig)


# ------------------------------------------------------------------------------- compatibility-only keys
# The one list of keys PaddleOCR configs carry that are accepted (so its recipes load unchanged) but that
# nothing here acts on; no module reads these fields (tests/config/test_compatibility_keys.py checks it).
# Per key: INFORMATIONAL (read by a PaddleOCR tool this project replaces, or overwritten at start-up: silent),
# IGNORED (a non-default value is warned about) or a reason string (a non-default value is rejected, because
# honouring it would change the results).
INFORMATIONAL, IGNORED = "informational", "ignored"
COMPATIBILITY_ONLY: dict[type, dict[str, str]] = {
    GlobalConfig: {
        "debug": IGNORED,
        "cal_metric_during_train": IGNORED,
        "use_visualdl": IGNORED,
        "infer_img": INFORMATIONAL,  # tools/infer_det.py input; `det-model infer --image` here
        "save_res_path": INFORMATIONAL,  # tools/infer_det.py output; `det-model infer --out` here
        "distributed": INFORMATIONAL,  # PaddleOCR overwrites it from the world size; so do we
        "d2s_train_image_shape": IGNORED,
        "calc_epoch_interval": IGNORED,
        "to_static": IGNORED,
        "use_sync_bn": "SyncBatchNorm is not implemented: BN statistics would differ from a synced run",
    },
    # `key` picks an entry of a sub-model's output dict in PaddleOCR ("maps", "head_out"); our sub-models
    # return one named DBMaps, so there is nothing to pick (PaddleOCR's DistillationDBPostProcess never reads
    # it either).
    DistillationDMLLossConfig: {"dis_head": IGNORED, "key": INFORMATIONAL},
    DistillationDBLossConfig: {"key": INFORMATIONAL},
    # DilaDB has no threshold-map term (the teacher gives no threshold target): beta weights nothing, as in
    # PaddleOCR, which also accepts and drops it.
    DistillationDilaDBLossConfig: {"key": INFORMATIONAL, "beta": IGNORED},
    DistillationDBPostProcessConfig: {"key": INFORMATIONAL},
}
