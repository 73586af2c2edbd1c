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
    from components.stage import TrainSettings, train_stage

    logging.basicConfig(level=logging.INFO)
    check_teacher_inputs(recipe, pretrained_uri)
    # Both DML models start from the part of `pretrained_uri` that fits them (a distill checkpoint's Teacher).
    sources = {n: pretrained_uri for n in ("Student", "Student2") if pretrained_uri}
    pretrained = resolve_stage_pretrained(config_name, sources, Path(model.path).parent / "pretrained")
    settings = TrainSettings(
        config_name,
        dataset.path,
        epochs,
        batch_size,
        learning_rate,
        image_size,
        eval_side_len,
        eval_interval,
        num_workers,
        gpus,
        use_amp,
        overrides,
        pretrained=pretrained,
    )
    summary = train_stage(
        settings,
        model.path,
        resolved_config.path,
        stage="dml-teacher",
        run_id=run_id,
        checkpoint_root=checkpoint_root,
        num_nodes=num_nodes,
        image=image,
        pvc_name=cache_pvc,
    )
    for key, value in summary.items():
        metrics.log_metric(key, value)
    model.metadata.update({"framework": "paddlepaddle", "layout": "paddleocr-checkpoints", **summary})
