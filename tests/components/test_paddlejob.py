"""The PaddleJob of engine=paddlejob (components/paddlejob.py), checked against the v1.9 CRD."""

from __future__ import annotations

import pytest
from support.k8s_schemas import schema_errors

from components.distributed import NodeSpec, owner_reference
from components.paddlejob import build_paddlejob, launch_command, paddlejob_state

GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def spec(**kw: object) -> NodeSpec:
    args = dict(
        image="registry.example.com/ocr/ppocrv3-det:1.0",
        args=["det-model", "train", "-c", "/cache/c.yml"],
        num_nodes=2,
        gpus_per_node=4,
        shared_pvc="ppocrv3-shared",
        mount_path="/cache",
        node_selector={"pool": "a100"},
        tolerations=[GPU_TAINT],
    )
    return NodeSpec(**(args | kw))


def job(**kw: object) -> dict:
    return build_paddlejob(
        "ppocrv3-dml-teacher-k", "ppocrv3", spec(**kw), owner_reference("launcher", "uid-2")
    )


def worker(body: dict) -> dict:
    return body["spec"]["paddleReplicaSpecs"]["Worker"]


def test_paddlejob_matches_the_operator_crd() -> None:
    assert schema_errors(job()) == []
    broken = job()
    worker(broken)["replicas"] = "2"
    assert schema_errors(broken)  # the check can fail


def test_collective_workers_with_gpus_shared_volume_and_shm() -> None:
    body = job()
    w = worker(body)
    (container,) = w["template"]["spec"]["containers"]
    assert (
        w["replicas"] == 2
        and container["name"] == "paddle"
        and "Master" not in body["spec"]["paddleReplicaSpecs"]
    )
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"][:3] == ["python", "-m", "paddle.distributed.launch"]
    assert container["command"][-4:] == ["det-model", "train", "-c", "/cache/c.yml"]
    volumes = {v["name"]: v for v in w["template"]["spec"]["volumes"]}
    assert volumes["shared"]["persistentVolumeClaim"]["claimName"] == "ppocrv3-shared"
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert body["spec"]["runPolicy"]["activeDeadlineSeconds"] == spec().timeout_s <= 2 * 86400


def test_workers_get_the_pipelines_tolerations_and_node_selector() -> None:
    pod = worker(job())["template"]["spec"]
    assert pod["tolerations"] == [GPU_TAINT] and pod["nodeSelector"] == {"pool": "a100"}
    bare = worker(job(tolerations=[], node_selector={}))["template"]["spec"]
    assert "tolerations" not in bare and "nodeSelector" not in bare


def test_owned_by_the_launcher_pod() -> None:
    assert job()["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "launcher", "uid": "uid-2"}
    ]


def test_cpu_nodes_run_one_process_each() -> None:
    command = launch_command(spec(gpus_per_node=0))
    assert command[command.index("--nproc_per_node") + 1] == "1"


@pytest.mark.parametrize(
    "conditions, state",
    [
        ([], "Pending"),
        (["Created", "Running"], "Running"),
        (["Running", "Succeeded"], "Succeeded"),
        (["Failed"], "Failed"),
    ],
)
def test_paddlejob_state(conditions: list[str], state: str) -> None:
    status = {"conditions": [{"type": t, "status": "True"} for t in conditions]}
    assert paddlejob_state({"status": status})[0] == state
