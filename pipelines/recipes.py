"""The four recipes of the PP-OCRv3 guide as one dsl.If / Elif / Elif / Else group.

Only the branch of the chosen `recipe` runs; the others show as skipped. `dsl.OneOf` hands evaluate and export
the student (and its resolved config) of whichever branch ran. The `Else` branch (student-finetune) receives
the `recipe` parameter itself, and its task refuses any name that is not a recipe, so a typo fails loudly
instead of training the wrong thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kfp import dsl

from components.recipe_inputs import RECIPES

DEFAULT_RECIPE = "full"
STUDENT_CONFIG = "ch_PP-OCRv3_det_student.yml"

# (pretrained URI, recipe) -> the DML teacher's training task.
TeacherFactory = Callable[[Any, str], dsl.PipelineTask]
# teacher training task -> extract_params task.
ExtractFactory = Callable[[dsl.PipelineTask], dsl.PipelineTask]
# (config name, recipe, teacher params artifact or None, teacher pretrained URI) -> student training task.
StudentFactory = Callable[[Any, Any, Any, Any], dsl.PipelineTask]


@dataclass(frozen=True)
class RecipeInputs:
    """Pipeline channels the branches read."""

    recipe: Any
    cml_config: Any
    student_config: Any
    teacher_pretrained_uri: Any


@dataclass(frozen=True)
class TrainedStudent:
    model: Any  # dsl.OneOf of the branches' student Model
    config: Any  # dsl.OneOf of their resolved config


def _distilled(p: RecipeInputs, recipe: str, teacher: TeacherFactory, extract: ExtractFactory,
               student: StudentFactory) -> dsl.PipelineTask:
    """DML teacher -> extract -> CML student (recipes full and dml-finetune)."""
    params = extract(teacher(p.teacher_pretrained_uri, recipe)).outputs["params"]
    return student(p.cml_config, recipe, params, "")


def train_by_recipe(
    p: RecipeInputs, teacher: TeacherFactory, extract: ExtractFactory, student: StudentFactory
) -> TrainedStudent:
    """The recipe branches; returns the trained student of the one that ran."""
    with dsl.If(p.recipe == "full", name="recipe full"):
        full = _distilled(p, "full", teacher, extract, student)
    with dsl.Elif(p.recipe == "dml-finetune", name="recipe dml-finetune"):
        dml = _distilled(p, "dml-finetune", teacher, extract, student)
    with dsl.Elif(p.recipe == "cml-finetune", name="recipe cml-finetune"):
        cml = student(p.cml_config, "cml-finetune", None, p.teacher_pretrained_uri)
    with dsl.Else(name="recipe student-finetune"):
        alone = student(p.student_config, p.recipe, None, "")
    tasks = (full, dml, cml, alone)
    return TrainedStudent(
        model=dsl.OneOf(*(t.outputs["model"] for t in tasks)),
        config=dsl.OneOf(*(t.outputs["resolved_config"] for t in tasks)),
    )


def check_recipe_argument(arguments: dict[str, Any]) -> None:
    """Fail before submitting: an unknown recipe, or a fine-tune without the weights it starts from."""
    recipe = arguments.get("recipe", DEFAULT_RECIPE)
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    needs = {
        "dml-finetune": ("teacher_pretrained_uri",),
        "cml-finetune": ("student_pretrained_uri", "teacher_pretrained_uri"),
        "student-finetune": ("student_pretrained_uri",),
    }.get(recipe, ())
    missing = [name for name in needs if not arguments.get(name)]
    if missing:
        raise ValueError(f"recipe {recipe} starts from pretrained weights: set {', '.join(missing)}")
