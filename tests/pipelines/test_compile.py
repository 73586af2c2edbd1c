"""Structure of the compiled pipeline (both YAML documents), compiled through the CLI as users do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support.kfp_helpers import all_tasks, component_base

from pipelines.cli import main
from pipelines.pipeline import MINIO_ENV, RESOURCES, TASK_NAMES

GPU_TASKS = {"train-dml-teacher", "train-cml-student", "evaluate", "export"}
KIND = {
    "fetch-hiertext": "fetch",
    "train-dml-teacher": "train",
    "extract-params": "extract",
    "train-cml-student": "train",
    "evaluate": "evaluate",
    "export": "export",
}


def compile_docs(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    out = tmp_path / "p.yaml"
    assert main(["compile", "-o", str(out), *args]) == 0
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return compile_docs(tmp_path_factory.mktemp("compile"))


def executor(spec: dict, task: str) -> dict:
    ref = all_tasks(spec)[task]["componentRef"]["name"]
    return spec["deploymentSpec"]["executors"][spec["components"][ref]["executorLabel"]]["container"]


def test_six_components_and_the_recipe_group(compiled: tuple[dict, dict]) -> None:
    """The recipe branches (tests/kfp/test_kfp_recipes.py) use the same six components."""
    tasks = all_tasks(compiled[0])
    assert {component_base(t["componentRef"]["name"].removeprefix("comp-")) for t in tasks.values()} >= set(
        TASK_NAMES
    )
    root = compiled[0]["root"]["dag"]["tasks"]
    deploy = {n for n, t in root.items() if t["componentRef"]["name"].startswith("comp-condition-") and
              n != "condition-branches-1"}  # the optional deploy-kserve step (tests/serving)
    assert len(deploy) == 1
    assert set(root) - deploy == {"fetch-hiertext", "condition-branches-1", "evaluate", "export"}
    assert set(root["evaluate"]["dependentTasks"]) == {"fetch-hiertext", "condition-branches-1"}
    # the dataset calibrates Global.export_int8
    assert set(root["export"]["dependentTasks"]) == {"fetch-hiertext", "condition-branches-1"}
    assert root["export"]["inputs"]["artifacts"]["dataset"]["taskOutputArtifact"]["producerTask"] == "fetch-hiertext"


@pytest.mark.parametrize(
    "name, kind, default",
    [
        ("data_uri", "STRING", "s3://ocr-datasets/hiertext/hiertext.tar"),
        ("label_level", "STRING", "line"),
        ("teacher_epochs", "NUMBER_INTEGER", 1200),  # dml recipe's epoch_num
        ("student_epochs", "NUMBER_INTEGER", 500),  # cml recipe's epoch_num
        ("teacher_batch_size", "NUMBER_INTEGER", 8),
        ("student_learning_rate", "NUMBER_DOUBLE", 0.001),
        ("image_size", "NUMBER_INTEGER", 960),
        ("gpus", "NUMBER_INTEGER", 1),
        ("num_nodes", "NUMBER_INTEGER", 1),
        ("use_amp", "BOOLEAN", False),
        ("eval_interval", "NUMBER_INTEGER", 400),
        ("teacher_pretrained_uri", "STRING", ""),
        ("student_pretrained_uri", "STRING", ""),
        ("dml_overrides", "LIST", []),
        ("cml_overrides", "LIST", []),
        ("eval_overrides", "LIST", []),
        ("export_overrides", "LIST", []),
    ],
)
def test_parameters_and_defaults(compiled: tuple[dict, dict], name: str, kind: str, default: object) -> None:
    param = compiled[0]["root"]["inputDefinitions"]["parameters"][name]
    assert param["parameterType"] == kind
    assert param.get("defaultValue", None) == default


def test_resources_on_the_right_executors(compiled: tuple[dict, dict]) -> None:
    spec, _ = compiled
    for task in TASK_NAMES:
        resources = executor(spec, task)["resources"]
        cpu, memory, memory_limit = RESOURCES[KIND[task]]
        assert (resources["resourceCpuRequest"], resources["resourceMemoryRequest"]) == (cpu, memory), task
        assert resources["resourceMemoryLimit"] == memory_limit
        accelerator = resources.get("accelerator")
        if task in GPU_TASKS:
            assert accelerator["resourceType"] == "nvidia.com/gpu"
        else:
            assert accelerator is None, f"{task} must not ask for a GPU"
    gpus = executor(spec, "train-dml-teacher")["resources"]["accelerator"]["resourceCount"]
    assert "pipelinechannel--gpus" in gpus  # the training limit follows the `gpus` parameter
    assert executor(spec, "evaluate")["resources"]["accelerator"]["resourceCount"] == "1"


def test_image_from_one_place_and_no_pip_install_at_start(
    compiled: tuple[dict, dict], tmp_path: Path
) -> None:
    from components.image import BASE_IMAGE

    for task in TASK_NAMES:
        container = executor(compiled[0], task)
        assert container["image"] == BASE_IMAGE
        assert "pip install" not in " ".join(container["command"])
    spec, _ = compile_docs(tmp_path, "--image", "registry.local/ocr/ppocrv3-det:1.2")
    assert {executor(spec, t)["image"] for t in TASK_NAMES} == {"registry.local/ocr/ppocrv3-det:1.2"}


def test_shm_tolerations_pvc_on_gpu_executors(compiled: tuple[dict, dict]) -> None:
    spec, platform = compiled
    for task in GPU_TASKS:
        label = spec["components"][all_tasks(spec)[task]["componentRef"]["name"]][
            "executorLabel"
        ]
        k8s = platform[label]
        assert k8s["emptyDirMounts"] == [
            {"medium": "Memory", "mountPath": "/dev/shm", "sizeLimit": "16Gi", "volumeName": "dshm"}
        ]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in k8s["tolerations"]
    assert platform["exec-train-dml-teacher"]["pvcMount"][0]["mountPath"] == "/cache"
    assert "emptyDirMounts" not in platform.get("exec-fetch-hiertext", {})


def test_secrets_only_as_secret_references(compiled: tuple[dict, dict], tmp_path: Path) -> None:
    spec, platform = compiled
    refs = platform["exec-fetch-hiertext"]["secretAsEnv"][0]
    assert refs["secretName"] == "ppocrv3-minio" and refs["optional"] is True
    assert {m["envVar"]: m["secretKey"] for m in refs["keyToEnv"]} == MINIO_ENV
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert not [
        p for p in params if any(w in p.lower() for w in ("secret", "access_key", "password", "token"))
    ]
    for task in TASK_NAMES:  # no credential ever becomes a plain container env var
        env_names = {e["name"] for e in executor(spec, task).get("env", [])}
        assert not env_names & set(MINIO_ENV), task


def test_caching_and_retries(compiled: tuple[dict, dict], tmp_path: Path) -> None:
    tasks = all_tasks(compiled[0])
    assert tasks["fetch-hiertext"]["cachingOptions"] == {}  # off: the data behind a URI may change
    for name in ("train-dml-teacher", "train-cml-student"):
        assert tasks[name]["retryPolicy"] == {
            "maxRetryCount": 2,
            "backoffDuration": "60s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "3600s",
        }
    assert "retryPolicy" not in tasks["fetch-hiertext"]
    pinned, _ = compile_docs(tmp_path, "--data-version", "hiertext-v1")
    assert pinned["root"]["dag"]["tasks"]["fetch-hiertext"]["cachingOptions"] == {"enableCache": True}
    assert pinned["root"]["inputDefinitions"]["parameters"]["data_version"]["defaultValue"] == "hiertext-v1"


def test_node_selector_and_custom_tolerations(tmp_path: Path) -> None:
    _, platform = compile_docs(
        tmp_path, "--node-selector", "pool=a100", "--toleration", "dedicated=ocr:NoExecute"
    )
    k8s = platform["exec-train-cml-student"]
    assert k8s["nodeSelector"]["labels"] == {"pool": "a100"}
    assert k8s["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ocr", "effect": "NoExecute"}
    ]
    assert "nodeSelector" not in platform.get("exec-fetch-hiertext", {})


def test_spec_round_trips_into_the_protobuf(compiled: tuple[dict, dict]) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    parsed = json_format.ParseDict(compiled[0], pipeline_spec_pb2.PipelineSpec())
    assert parsed.pipeline_info.name == "ppocrv3-det"
