"""The recipes of the PP-OCRv3 guide and the pretrained weights each gives each sub-model (no kfp import).

- full:             DML teacher (from `teacher_pretrained_uri`, or from scratch) -> extract -> CML student.
- dml-finetune:     as full, with both DML models started from `teacher_pretrained_uri` (its Teacher part).
- cml-finetune:     CML only: Student/Student2 from `student_pretrained_uri`, Teacher from
                    `teacher_pretrained_uri` (usually both the published distillation checkpoint).
- student-finetune: the student recipe alone (no teacher), from `student_pretrained_uri`.
Every source goes through det_model.training.pretrained: the fitting part is picked per sub-model, and a
source that fits nothing fails the task with key counts.
"""

from __future__ import annotations

import json
from pathlib import Path

from det_model.config import DetConfig

RECIPES = ("full", "cml-finetune", "student-finetune", "dml-finetune")
STUDENT_CONFIG = "ch_PP-OCRv3_det_student.yml"
CML_CONFIG = "ch_PP-OCRv3_det_cml.yml"
TEACHER_FILE = "dml_teacher.pdparams"  # what extract_params writes into its Model artifact


def check_recipe(recipe: str) -> str:
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    return recipe


def check_teacher_inputs(recipe: str, pretrained_uri: str) -> None:
    """The DML stage runs in full (weights optional) and dml-finetune (weights required)."""
    if check_recipe(recipe) not in ("full", "dml-finetune"):
        raise ValueError(f"recipe {recipe} has no DML stage")
    if recipe == "dml-finetune" and not pretrained_uri:
        raise ValueError("recipe dml-finetune starts both DML models from teacher_pretrained_uri (empty)")


def student_stage_sources(
    config_name: str, student_uri: str, teacher_uri: str, teacher_params_dir: str
) -> dict[str, str]:
    """Sub-model -> weights URI for the student stage: the plain student, or CML's three sub-models."""
    from det_model.config import config_path, load_config

    if not load_config(config_path(config_name)).is_distillation:
        return {"Student": student_uri}
    teacher = str(Path(teacher_params_dir) / TEACHER_FILE) if teacher_params_dir else teacher_uri
    if not teacher:
        raise ValueError(
            f"{config_name}: the frozen CML Teacher needs weights: the extracted DML teacher (recipes full, "
            "dml-finetune) or teacher_pretrained_uri (recipe cml-finetune); "
            "it is never trained from random weights"
        )
    return {"Student": student_uri, "Student2": student_uri, "Teacher": teacher}


def resolve_stage_pretrained(config_name: str, sources: dict[str, str], work: Path) -> dict[str, str]:
    """Fetch, pick and check every source; sub-model -> path prefix of its fitted `.pdparams`."""
    from det_model.config import config_path, load_config
    from det_model.training.pretrained import resolve_for_config

    cfg = load_config(config_path(config_name))
    resolved = resolve_for_config(cfg, sources, work)
    work.mkdir(parents=True, exist_ok=True)
    summary = {
        n: {"source": r.source, "part": r.fit.part, "matched": r.fit.matched}
        for n, r in resolved.items()
    }
    (work / "pretrained.json").write_text(json.dumps(summary, indent=2))
    return {name: str(r.path_prefix) for name, r in resolved.items()}


def pretrained_overrides(recipe: DetConfig, pretrained: dict[str, str]) -> list[str]:
    """`-o` items loading fitted weights: per distillation sub-model, else Global.pretrained_model."""
    if recipe.is_distillation:
        return [f"Architecture.Models.{name}.pretrained={json.dumps(p)}" for name, p in pretrained.items()]
    if set(pretrained) - {"Student"}:
        raise ValueError(f"{recipe.source}: a plain model takes Student weights only, got {sorted(pretrained)}")
    return [f"Global.pretrained_model={json.dumps(pretrained['Student'])}"] if pretrained else []


def evaluate_start_weights(uri: str, trained_cfg, work: Path) -> dict[str, float]:
    """Evaluate the students' starting weights (the Student part of `uri`) exactly as the trained model was:
    same images, same resize; writes predictions into `work/eval` for the report's side-by-side samples."""
    from dataclasses import replace

    from det_model.config import config_path, load_config
    from det_model.evaluation import evaluate_checkpoint

    weights = resolve_stage_pretrained(STUDENT_CONFIG, {"Student": uri}, work / "weights")["Student"]
    # A plain trained model is evaluated with its own config; for CML the student recipe's post-processing
    # (same thresholds) stands in for the distillation wrapper.
    base = load_config(config_path(STUDENT_CONFIG)) if trained_cfg.is_distillation else trained_cfg
    cfg = replace(
        base,
        Eval=trained_cfg.Eval,
        Global=replace(
            base.Global, use_gpu=trained_cfg.Global.use_gpu, checkpoints=None, pretrained_model=weights
        ),
    )
    result = evaluate_checkpoint(cfg, work / "eval")
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
