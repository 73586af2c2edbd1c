"""train_dml_teacher: Dataset -> DML teacher checkpoints (PaddleOCR layout) + Metrics + resolved config."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_dml_teacher(
    dataset: Input[Dataset],
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
    recipe: str = "full",
):
    """Train Student and Student2 (ResNet50_vd + LKPAN) with DML; resumes from `latest` on a retried step."""
    import logging
    from pathlib import Path

    from components.recipe_inputs import check_teacher_inputs, resolve_stage_pretrained
    from components.training import train_component

    logging.basicConfig(level=logging.INFO)
    check_teacher_inputs(recipe, pretrained_uri)
    # Both DML models start from the part of `pretrained_uri` that fits them (a distill checkpoint's Teacher).
    sources = {n: pretrained_uri for n in ("Student", "Student2") if pretrained_uri}
    pretrained = resolve_stage_pretrained(config_name, sources, Path(model.path).parent / "pretrained")
    train_component("dml-teacher", locals(), pretrained)
