"""Training: the loop, checkpoints, schedules and extract_params."""

from det_model.training.extract import extract_params
from det_model.training.loop import TrainingDivergedError, TrainResult, train

__all__ = ["TrainResult", "TrainingDivergedError", "extract_params", "train"]
