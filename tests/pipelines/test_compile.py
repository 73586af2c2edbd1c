"""Structure of the compiled pipeline (both YAML documents), compiled through the CLI as users do."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from support.kfp_helpers import all_tasks, component_base

from pipelines.cli import main
from pipelines.pipeline import MINIO_ENV, MINIO_SECRET, RESOURCES, SCRATCH, TASK_NAMES

GPU_TASKS = {"train-dml-teacher", "train-cml-student", "evaluate", "export"}
LAUNCHERS = {"train-dml-teacher": "train-dml-teacher-2", "train-cml-student": "train-cml-student-2"}
KIND = {
    "fetch-hiertext": "fetch",
    "train-dml-teacher": "train",
    "extract-params": "extract",
    "train-cml-student": "train",
    "evaluate": "evaluate",
    "export": "export",
    "train-dml-teacher-2": "launcher",
    "train-cml-student-2": "launcher",
    "publish-results": "publish",
}


def compile_docs(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    out = tmp_path / "p.yaml"
    assert main(["compile", "-o", str(out), *args]) == 0
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return compile_docs(tmp_path_factory.mktemp("compile"))


def condition_holds(spec: dict, group: str, task: str) -> bool:
    """Whether the condition group `group` of the root DAG holds `task` directly."""
    component = spec["components"][spec["root"]["dag"]["tasks"][group]["componentRef"]["name"]]
    return task in component.get("dag", {}).get("tasks", {})


def executor_label(spec: dict, task: str) -> str:
    return spec["components"][all_tasks(spec)[task]["componentRef"]["name"]]["executorLabel"]


def executor(spec: dict, task: str) -> dict:
    return spec["deploymentSpec"]["executors"][executor_label(spec, task)]["container"]


def test_six_components_and_the_recipe_group(compiled: tuple[dict, dict]) -> None:
    """The recipe branches (tests/kfp/test_kfp_recipes.py) use the same six components."""
    tasks = all_tasks(compiled[0])
    assert {component_base(t["componentRef"]["name"].removeprefix("comp-")) for t in tasks.values()} >= set(
        TASK_NAMES
    )
    root = compiled[0]["root"]["dag"]["tasks"]
    optional = {
        n for n, t in root.items() if t["componentRef"]["name"].startswith("comp-condition-")
    } - {"condition-branches-1"}  # publish-results and the deploy-kserve step (tests/serving)
    held = {task for n in optional for task in all_tasks(compiled[0]) if condition_holds(compiled[0], n, task)}
    assert held == {"publish-results", "deploy-kserve"}
    assert set(root) - optional == {"fetch-hiertext", "condition-branches-1", "evaluate", "export"}
    assert set(root["evaluate"]["dependentTasks"]) == {"fetch-hiertext", "condition-branches-1"}
    # the dataset calibrates Global.export_int8
    assert set(root["export"]["dependentTasks"]) == {"fetch-hiertext", "condition-branches-1"}
    assert root["export"]["inputs"]["artifacts"]["dataset"]["taskOutputArtifact"]["producerTask"] == "fetch-hiertext"


# ----------------------------------------------------------------- 5. single node vs multi node, 6. workers
def test_every_recipe_branch_trains_through_a_single_or_multi_node_stage(compiled: tuple[dict, dict]) -> None:
    """Each training stage of each recipe branch is a stage pipeline holding both tasks under num_nodes."""
    spec = compiled[0]
    stages = [t for t in all_tasks(spec).values() if t["componentRef"]["name"].startswith("comp-train-")]
    stages = [t for t in stages if "dag" in spec["components"][t["componentRef"]["name"]]]
    names = sorted(component_base(t["componentRef"]["name"].removeprefix("comp-")) for t in stages)
    assert names == ["train-cml-student-stage"] * 4 + ["train-dml-teacher-stage"] * 2  # full, dml: both
    for task in stages:
        (group,) = spec["components"][task["componentRef"]["name"]]["dag"]["tasks"].values()
        branches = spec["components"][group["componentRef"]["name"]]["dag"]["tasks"].values()
        multi, single = sorted(b["triggerPolicy"]["condition"] for b in branches)
        assert "num_nodes" in single and multi == f"!({single})"


def condition_of(spec: dict, task: str) -> str:
    """The trigger condition of the condition group that holds `task` (inside a stage pipeline)."""
    for component in spec["components"].values():
        for group in component.get("dag", {}).get("tasks", {}).values():
            inner = spec["components"][group["componentRef"]["name"]].get("dag", {}).get("tasks", {})
            if task in inner and "triggerPolicy" in group:
                return group["triggerPolicy"]["condition"]
    raise AssertionError(f"{task} is in no condition group")


@pytest.mark.parametrize("single, launcher", sorted(LAUNCHERS.items()))
def test_single_and_multi_node_are_different_tasks_with_their_own_resources(
    compiled, single: str, launcher: str
) -> None:
    spec, platform = compiled
    assert (
        "num_nodes" in condition_of(spec, single)
        and condition_of(spec, launcher) == f"!({condition_of(spec, single)})"
    )
    big, small = executor(spec, single)["resources"], executor(spec, launcher)["resources"]
    assert big["accelerator"]["resourceType"] == "nvidia.com/gpu" and "accelerator" not in small
    assert (
        small["resourceCpuRequest"],
        small["resourceMemoryRequest"],
        small["resourceMemoryLimit"],
    ) == RESOURCES["launcher"]
    k8s_single, k8s_launcher = (
        platform[executor_label(spec, single)],
        platform[executor_label(spec, launcher)],
    )
    assert "emptyDirMounts" in k8s_single and "emptyDirMounts" not in k8s_launcher  # no 16 GiB /dev/shm
    assert [m["componentInputParameter"] for m in k8s_single["pvcMount"]] == ["pipelinechannel--cache_pvc"]
    assert [m["componentInputParameter"] for m in k8s_launcher["pvcMount"]] == ["pipelinechannel--shared_pvc"]
    assert {e["name"]: e["fieldPath"] for e in k8s_launcher["fieldPathAsEnv"]} == {
        "POD_NAME": "metadata.name",
        "POD_UID": "metadata.uid",
    }  # for the owner reference of the distributed job


def test_workers_get_the_pipelines_tolerations_and_node_selector(tmp_path: Path) -> None:
    spec, _ = compile_docs(
        tmp_path, "--node-selector", "pool=a100", "--toleration", "dedicated=ocr:NoExecute"
    )
    for launcher in LAUNCHERS.values():
        given = all_tasks(spec)[launcher]["inputs"]["parameters"]
        assert given["node_selector"]["runtimeValue"]["constant"] == {"pool": "a100"}
        assert given["tolerations"]["runtimeValue"]["constant"] == [
            {"key": "dedicated", "operator": "Equal", "value": "ocr", "effect": "NoExecute"}
        ]


def test_local_compile_has_no_multi_node_branch() -> None:
    from kfp import compiler

    from pipelines.pipeline import build_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        compiler.Compiler().compile(build_pipeline(multinode=False), f"{tmp}/p.yaml")
        spec = next(yaml.safe_load_all(Path(f"{tmp}/p.yaml").read_text()))
    # (train-cml-student-2 here is the student of another recipe branch, KFP's numbering)
    assert not [c for c in spec["components"] if c.endswith("-stage") or "-stage-" in c]
    conditions = [t.get("triggerPolicy", {}).get("condition", "") for t in all_tasks(spec).values()]
    assert conditions and not [c for c in conditions if "num_nodes" in c]


# ------------------------------------------------------------------------------- 8. caching, 9. artifacts
def test_no_run_id_reaches_training_or_evaluation(compiled: tuple[dict, dict]) -> None:
    spec = compiled[0]
    takes_run_id = {
        name
        for name, task in all_tasks(spec).items()
        if "{{$.pipeline_job_uuid}}" in str(task.get("inputs", {}))  # dsl.PIPELINE_JOB_ID_PLACEHOLDER
    }
    assert takes_run_id == {"publish-results"}  # a tiny uncached task; everything else can be a cache hit
    assert all_tasks(spec)["publish-results"]["cachingOptions"] == {}


def test_downloading_tasks_get_a_sized_scratch_volume(compiled: tuple[dict, dict]) -> None:
    spec, platform = compiled
    for task, kind in KIND.items():
        volumes = platform.get(executor_label(spec, task), {}).get("genericEphemeralVolume", [])
        if kind in SCRATCH:
            assert [(v["mountPath"], v["size"]) for v in volumes] == [("/minio", SCRATCH[kind])], task
        else:
            assert not volumes, task


def test_training_publishes_curves(compiled: tuple[dict, dict]) -> None:
    spec = compiled[0]
    for task in ("train-dml-teacher", "train-cml-student", *LAUNCHERS.values()):
        outputs = spec["components"][all_tasks(spec)[task]["componentRef"]["name"]]["outputDefinitions"][
            "artifacts"
        ]
        assert outputs["curves"]["artifactType"]["schemaTitle"] == "system.HTML"


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
        label = executor_label(spec, task)
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
    assert refs["secretName"] == MINIO_SECRET and refs["optional"] is True
    assert {m["envVar"]: m["secretKey"] for m in refs["keyToEnv"]} == MINIO_ENV
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert not [
        p for p in params if any(w in p.lower() for w in ("secret", "access_key", "password", "token"))
    ]
    # Every task that reads an s3:// URI gets the credentials: the data, the pretrained weights (training) and
    # the starting weights evaluate scores next to the trained model.
    for name in ("fetch-hiertext", "train-dml-teacher", "train-cml-student", "evaluate"):
        assert platform[f"exec-{name}"]["secretAsEnv"][0]["secretName"] == MINIO_SECRET, name
    for task in TASK_NAMES:  # no credential ever becomes a plain container env var
        env_names = {e["name"] for e in executor(spec, task).get("env", [])}
        assert not env_names & set(MINIO_ENV), task


def test_caching_and_retries(compiled: tuple[dict, dict], tmp_path: Path) -> None:
    tasks = all_tasks(compiled[0])
    assert tasks["fetch-hiertext"]["cachingOptions"] == {}  # off: the data behind a URI may change
    for name in ("train-dml-teacher", "train-cml-student", *LAUNCHERS.values()):
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


def test_platform_spec_matches_the_kubernetes_executor_schema(compiled: tuple[dict, dict]) -> None:
    """Every executor's Kubernetes settings parse into kfp-kubernetes' KubernetesExecutorConfig (unknown fields
    or wrong types fail), the schema the KFP driver reads them with."""
    from google.protobuf import json_format
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2

    _, platform = compiled
    assert platform
    for label, config in platform.items():
        json_format.ParseDict(config, k8s_pb2.KubernetesExecutorConfig())  # raises ParseError when invalid
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict({"pvcMounts": []}, k8s_pb2.KubernetesExecutorConfig())


DIGEST_IMAGE = "registry.example.com/ocr/ppocrv3-det@sha256:" + "0123456789abcdef" * 4


def test_digest_image_and_explicit_pull_policy_on_every_task(tmp_path: Path) -> None:
    spec, platform = compile_docs(tmp_path, "--image", DIGEST_IMAGE, "--image-pull-policy", "Always")
    assert {executor(spec, t)["image"] for t in TASK_NAMES} == {DIGEST_IMAGE}
    labels = [executor_label(spec, t) for t in TASK_NAMES]
    assert {platform[label].get("imagePullPolicy") for label in labels} == {"Always"}


def test_default_pull_policy_is_explicit(compiled: tuple[dict, dict]) -> None:
    _, platform = compiled
    assert {k8s.get("imagePullPolicy") for k8s in platform.values()} == {"IfNotPresent"}


def test_compile_time_gpu_count_for_old_backends(tmp_path: Path) -> None:
    spec, _ = compile_docs(tmp_path, "--gpus", "4")
    for task in ("train-dml-teacher", "train-cml-student"):
        accelerator = executor(spec, task)["resources"]["accelerator"]
        assert accelerator["resourceCount"] == "4"  # a constant: backends < 2.4 cannot resolve a parameter
    assert spec["root"]["inputDefinitions"]["parameters"]["gpus"]["defaultValue"] == 4


def test_every_parameter_has_a_description_in_the_spec(compiled: tuple[dict, dict]) -> None:
    params = compiled[0]["root"]["inputDefinitions"]["parameters"]
    missing = [name for name, p in params.items() if len(p.get("description", "")) < 10]
    assert not missing, (
        f"parameters without a description (add them to the pipeline docstring Args): {missing}"
    )
    assert params["num_nodes"]["description"].startswith("1 trains in the pipeline's own pod")


def test_scratch_volume_class_and_mount_are_options(tmp_path: Path) -> None:
    spec, platform = compile_docs(tmp_path, "--scratch-storage-class", "fast-local", "--artifact-root", "/s3")
    (volume,) = platform[executor_label(spec, "fetch-hiertext")]["genericEphemeralVolume"]
    assert (volume["mountPath"], volume["storageClassName"]) == ("/s3", "fast-local")
