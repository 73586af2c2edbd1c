"""train_cml_student: Dataset + DML teacher params -> CML student checkpoints + Metrics + resolved config."""

from typing import List

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_cml_student(
    dataset: Input[Dataset],
    teacher_params: Input[Model],
    model: Output[Model],
    metrics: Output[Metrics],
    resolved_config: Output[Artifact],
    curves: Output[HTML],
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
    image: str,
    engine: str,
    node_selector: dict,
    tolerations: list,
    publish_all_checkpoints: bool,
):
    """Train Student/Student2 (MobileNetV3 + RSEFPN) with CML against the frozen DML teacher."""
    import logging
    from pathlib import Path

    from components.stage import TrainSettings, fetch_pretrained, train_stage

    logging.basicConfig(level=logging.INFO)
    weights = fetch_pretrained(pretrained_uri, Path(model.path).parent / "pretrained")
    pretrained = {n: weights for n in ("Student", "Student2") if weights}
    pretrained["Teacher"] = str(Path(teacher_params.path) / "dml_teacher")
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
        stage="cml-student",
        inputs={"dataset": dataset.uri, "teacher": teacher_params.uri, "pretrained": pretrained_uri},
        checkpoint_root=checkpoint_root,
        num_nodes=num_nodes,
        image=image,
        pvc_name=cache_pvc,
        engine=engine,
        node_selector=node_selector,
        tolerations=tolerations,
        curves=curves.path,
        publish_all=publish_all_checkpoints,
    )
    for key, value in summary.items():
        metrics.log_metric(key, value)
    model.metadata.update({"framework": "paddlepaddle", "layout": "paddleocr-checkpoints", **summary})
