"""train_cml_student: Dataset + DML teacher params -> CML student checkpoints + Metrics + resolved config."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_cml_student(
    dataset: Input[Dataset],
    teacher_params: Input[Model],
    model: Output[Model],
    metrics: Output[Metrics],
    resolved_config: Output[Artifact],
    config_name: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    image_size: int,
    eval_side_len: int,
    eval_interval: int,
    num_workers: int,
    gpus: int,
    use_amp: bool,
    pretrained_uri: str,
    overrides: List[str],
    num_nodes: int,
    checkpoint_root: str,
    cache_pvc: str,
    run_id: str,
    image: str,
):
    """Train Student/Student2 (MobileNetV3 + RSEFPN) with CML against the frozen DML teacher."""
    import logging
    from pathlib import Path

    from components.training import fetch_pretrained, train_component

    logging.basicConfig(level=logging.INFO)
    weights = fetch_pretrained(pretrained_uri, Path(model.path).parent / "pretrained")
    pretrained = {n: weights for n in ("Student", "Student2") if weights}
    pretrained["Teacher"] = str(Path(teacher_params.path) / "dml_teacher")
    train_component("cml-student", locals(), pretrained)
