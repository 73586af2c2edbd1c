"""The PP-OCRv3 sub-model configs the modeling tests build (values of the bundled recipes)."""

from det_model.config.schema import (
    DBHeadConfig,
    DetModelConfig,
    LKPANConfig,
    MobileNetV3Config,
    ResNetVdConfig,
    RSEFPNConfig,
)

STUDENT_CFG = DetModelConfig(
    Backbone=MobileNetV3Config(scale=0.5, model_name="large", disable_se=True),
    Neck=RSEFPNConfig(out_channels=96, shortcut=True),
    Head=DBHeadConfig(k=50),
)
TEACHER_CFG = DetModelConfig(
    Backbone=ResNetVdConfig(in_channels=3, layers=50),
    Neck=LKPANConfig(out_channels=256),
    Head=DBHeadConfig(kernel_list=(7, 2, 2), k=50),
)
