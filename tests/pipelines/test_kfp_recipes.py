"""The four recipes in the compiled pipeline (conditions, the tasks of each branch, OneOf into evaluate and
export), the recipe checks before a run, and the README's cluster commands compiled as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from unittest import mock

import pytest
import yaml
from support.kfp_helpers import component_base

from components.recipe_inputs import (
    RECIPES,
    check_recipe,
    check_teacher_inputs,
    pretrained_overrides,
    student_stage_sources,
)
from det_model.config import config_path, load_config
from pipelines import remote
from pipelines.cli import main
from pipelines.local import LOCAL_DEFAULTS
from pipelines.params import parse_sets
from pipelines.pipeline import ppocrv3_det
from pipelines.recipes import check_recipe_argument

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = "https://paddleocr.bj.bcebos.com/PP-OCRv3/chinese/ch_PP-OCRv3_det_distill_train.tar"
# recipe -> (the components its branch runs, in order; the student's config parameter)
BRANCHES = {
    "full": (["train-dml-teacher", "extract-params", "train-cml-student"], "cml_config"),
    "dml-finetune": (["train-dml-teacher", "extract-params", "train-cml-student"], "cml_config"),
    "cml-finetune": (["train-cml-student"], "cml_config"),
    "student-finetune": (["train-cml-student"], "student_config"),
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("recipes") / "p.yaml"
    assert main(["compile", "-o", str(out)]) == 0
    return next(yaml.safe_load_all(out.read_text()))


def branches(spec: dict) -> dict[str, dict]:
    """Branch display name (`recipe <name>`) -> {trigger condition, tasks of its sub-DAG}."""
    group = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    return {
        t["taskInfo"]["name"].removeprefix("recipe "): {
            "condition": t["triggerPolicy"]["condition"],
            "tasks": spec["components"][t["componentRef"]["name"]]["dag"]["tasks"],
        }
        for t in group.values()
    }


def stage_base(name: str) -> str:
    """A branch task's component: `train-cml-student-stage-3` -> `train-cml-student` (in a cluster compile each
    training stage is a pipeline of its own holding the single- and multi-node tasks, pipelines/training.py)."""
    return component_base(name).removesuffix("-stage")


def param(task: dict, name: str) -> object:
    value = task["inputs"]["parameters"][name]
    return value.get("runtimeValue", {}).get("constant", value.get("componentInputParameter"))


def test_one_branch_per_recipe_with_its_condition(spec: dict) -> None:
    found = branches(spec)
    assert set(found) == set(RECIPES)
    for recipe in ("full", "dml-finetune", "cml-finetune"):
        assert found[recipe]["condition"].endswith(f"inputs.parameter_values['pipelinechannel--recipe'] == '{recipe}'")
    negated = found["student-finetune"]["condition"]  # the Else branch: none of the others
    assert all(f"!(inputs.parameter_values['pipelinechannel--recipe'] == '{r}')" in negated
               for r in ("full", "dml-finetune", "cml-finetune"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_branch_runs_exactly_its_recipes_tasks(spec: dict, recipe: str) -> None:
    components, config = BRANCHES[recipe]
    tasks = branches(spec)[recipe]["tasks"]
    by_component = {stage_base(name): task for name, task in tasks.items()}
    assert sorted(by_component) == sorted(components)
    student = by_component["train-cml-student"]
    assert param(student, "config_name") == f"pipelinechannel--{config}"
    assert param(student, "recipe") == (recipe if recipe != "student-finetune" else "pipelinechannel--recipe")
    teacher_input = student["inputs"].get("artifacts", {}).get("teacher_params")
    if "extract-params" in by_component:
        extract = next(n for n in tasks if stage_base(n) == "extract-params")
        assert teacher_input["taskOutputArtifact"] == {"outputArtifactKey": "params", "producerTask": extract}
        dml = by_component["train-dml-teacher"]
        assert param(dml, "pretrained_uri") == "pipelinechannel--teacher_pretrained_uri"
        assert param(dml, "recipe") == recipe
    else:
        assert teacher_input is None
    expected_teacher_uri = "pipelinechannel--teacher_pretrained_uri" if recipe == "cml-finetune" else ""
    assert param(student, "teacher_pretrained_uri") == expected_teacher_uri


def test_evaluate_and_export_take_the_student_of_whichever_branch_ran(spec: dict) -> None:
    root = spec["root"]["dag"]["tasks"]
    outputs = spec["components"]["comp-condition-branches-1"]["dag"]["outputs"]["artifacts"]
    for task, key, source in (("evaluate", "model", "model"), ("export", "model", "model"),
                              ("evaluate", "config", "resolved_config"), ("export", "config", "resolved_config")):
        ref = root[task]["inputs"]["artifacts"][key]["taskOutputArtifact"]
        assert ref["producerTask"] == "condition-branches-1"
        selectors = outputs[ref["outputArtifactKey"]]["artifactSelectors"]
        assert len(selectors) == 4
        assert {s["outputArtifactKey"] for s in selectors} == {f"pipelinechannel--{component}-{source}"
                                                               for component in _students(spec)}
    assert param(root["evaluate"], "baseline_uri") == "student_pretrained_uri"  # root level: no channel prefix


def _students(spec: dict) -> set[str]:
    """The student stages' task names in the recipe branches."""
    return {n for branch in branches(spec).values() for n in branch["tasks"] if stage_base(n) == "train-cml-student"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"recipe": "fine-tune"}, "unknown recipe 'fine-tune'; known: full, cml-finetune"),
        ({"recipe": "cml-finetune", "student_pretrained_uri": "x"}, "set teacher_pretrained_uri"),
        ({"recipe": "student-finetune"}, "set student_pretrained_uri"),
        ({"recipe": "dml-finetune"}, "set teacher_pretrained_uri"),
    ],
)
def test_recipe_arguments_are_checked_before_a_run(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_recipe_argument(arguments)


def test_full_needs_no_pretrained_weights() -> None:
    check_recipe_argument({"recipe": "full"})


def test_components_refuse_what_the_pipeline_check_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown recipe 'ful'"):
        check_recipe("ful")
    with pytest.raises(ValueError, match="dml-finetune starts both DML models"):
        check_teacher_inputs("dml-finetune", "")
    with pytest.raises(ValueError, match="never trained from random weights"):
        student_stage_sources("ch_PP-OCRv3_det_cml.yml", "s.pdparams", "", "")
    sources = student_stage_sources("ch_PP-OCRv3_det_cml.yml", "s", "", str(tmp_path))
    assert sources == {"Student": "s", "Student2": "s", "Teacher": str(tmp_path / "dml_teacher.pdparams")}
    assert student_stage_sources("ch_PP-OCRv3_det_student.yml", "s", "t", "") == {"Student": "s"}


def test_pretrained_overrides_follow_the_config_kind() -> None:
    cml, student = (load_config(config_path(f"ch_PP-OCRv3_det_{n}.yml")) for n in ("cml", "student"))
    assert pretrained_overrides(cml, {"Student": "/w/S", "Teacher": "/w/T"}) == [
        'Architecture.Models.Student.pretrained="/w/S"',
        'Architecture.Models.Teacher.pretrained="/w/T"',
    ]
    assert pretrained_overrides(student, {"Student": "/w/S"}) == ['Global.pretrained_model="/w/S"']
    with pytest.raises(ValueError, match="Student weights only"):
        pretrained_overrides(student, {"Teacher": "/w/T"})


def readme_commands(prefix: str) -> list[str]:
    lines = (REPO / "README.md").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip().startswith(prefix)]


# The shell variables the README's cluster commands use (set as its manifests/README.md steps say).
README_VARIABLES = {"KFP_HOST": "http://localhost:8080", "IMG": "registry.example.com/ocr/ppocrv3-det:gpu"}


def test_the_readme_cluster_commands_compile_and_submit_what_they_say() -> None:
    commands = readme_commands("python -m pipelines run --host")
    recipes_seen = set()
    for command in commands:
        for name, value in README_VARIABLES.items():
            command = command.replace(f"${name}", value)
        argv = shlex.split(command)[3:]  # after `python -m pipelines`
        with (
            mock.patch.object(remote, "make_client", return_value=mock.MagicMock()),
            mock.patch.object(remote, "upload", return_value=("p-1", "v-1")),
            mock.patch.object(remote, "start_version", return_value="r-1") as start,
        ):
            assert main(argv) == 0, command
        arguments = start.call_args.args[3]
        recipes_seen.add(arguments["recipe"])
        if arguments["recipe"] != "full":
            assert PUBLISHED in (arguments["student_pretrained_uri"], arguments["teacher_pretrained_uri"]), command
    assert recipes_seen == set(RECIPES)


def test_the_readme_local_commands_name_every_recipe_with_valid_settings() -> None:
    commands = [c for c in readme_commands("python -m pipelines run-local") if "recipe=" in c]
    named = set()
    for command in commands:
        argv = shlex.split(command.split("#")[0])
        sets = parse_sets(ppocrv3_det, [argv[i + 1] for i, a in enumerate(argv) if a == "--set"])
        check_recipe_argument({**LOCAL_DEFAULTS, **sets})
        named.add(sets["recipe"])
    assert named == set(RECIPES)


def test_the_local_teacher_budget_ends_with_an_evaluation() -> None:
    """run-local's DML stage (recipes full, dml-finetune) must write best_accuracy, which extract-params reads:
    its overrides (applied after the stage's own, so they win over eval_interval) evaluate within its steps."""
    cfg = load_config(config_path("ch_PP-OCRv3_det_dml.yml"), LOCAL_DEFAULTS["dml_overrides"])
    train_images = int(LOCAL_DEFAULTS["data_uri"].removeprefix("synthetic://")) * 8 // 10  # fetch's 80/20 split
    per_epoch = round(train_images * cfg.Train.dataset.ratio_list[0])
    steps = LOCAL_DEFAULTS["teacher_epochs"] * -(-per_epoch // LOCAL_DEFAULTS["teacher_batch_size"])
    start, interval = cfg.Global.eval_batch_step
    assert 0 < start + interval <= steps and steps % interval == 0  # the last step is evaluated
    assert LOCAL_DEFAULTS["eval_interval"] > steps  # which the shared eval_interval alone would not do
