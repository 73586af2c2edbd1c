"""train_cml_student: Dataset (+ teacher weights) -> student checkpoints (CML or the plain student recipe)."""

from typing import List, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_cml_student(
    dataset: Input[Dataset],
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
    recipe: str = "full",
    teacher_pretrained_uri: str = "",
    teacher_params: Optional[Input[Model]] = None,
):
    """Train Student/Student2 with CML against a frozen teacher, or the plain student (student recipe config).

    The teacher is the extracted DML teacher (`teacher_params`) or `teacher_pretrained_uri` (cml-finetune).
    """
    import logging
    from pathlib import Path

    from components.recipe_inputs import check_recipe, resolve_stage_pretrained, student_stage_sources
    from components.training import train_component

    logging.basicConfig(level=logging.INFO)
    check_recipe(recipe)
    teacher_dir = teacher_params.path if teacher_params is not None else ""
    sources = student_stage_sources(config_name, pretrained_uri, teacher_pretrained_uri, teacher_dir)
    pretrained = resolve_stage_pretrained(config_name, sources, Path(model.path).parent / "pretrained")
    teacher = teacher_params.uri if teacher_params is not None else teacher_pretrained_uri
    inputs = {"dataset": dataset.uri, "teacher": teacher, "pretrained": pretrained_uri}
    train_component("cml-student", locals(), pretrained, inputs)
    model.metadata["recipe"] = recipe
    if teacher_params is not None:  # a teacher trained in this run (full, dml-finetune): its steps and hmean
        model.metadata.update({k: v for k, v in teacher_params.metadata.items() if k.startswith("teacher_")})
