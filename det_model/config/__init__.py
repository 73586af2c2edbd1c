"""PaddleOCR-schema configs as typed, frozen dataclasses."""

from det_model.config.dump import dump_config, to_dict
from det_model.config.loader import (
    ConfigError, LoadedConfig, config_path, load_config, parse_config, read_config,
)
from det_model.config.schema import DetConfig

__all__ = [
    "ConfigError", "DetConfig", "LoadedConfig", "config_path", "dump_config", "load_config", "parse_config",
    "read_config", "to_dict",
]
