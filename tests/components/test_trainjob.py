"""The TrainJob the launcher creates (components/trainjob.py), checked against the Trainer v2.3.0 CRD."""

from __future__ import annotations

import pytest
from support.k8s_schemas import schema_errors

from components.distributed import NodeSpec, job_name, owner_reference
from components.trainjob import RUNTIME, build_trainjob, trainjob_state

GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def spec(**kw: object) -> NodeSpec:
    args = dict(
        image="registry.example.com/ocr/ppocrv3-det@sha256:" + "a" * 64,
        args=["det-model", "train", "-c", "/shared/cml-student-k/config.resolved.yml"],
        num_nodes=3,
        gpus_per_node=4,
        shared_pvc="ppocrv3-shared",
        mount_path="/shared",
        node_selector={"pool": "a100"},
        tolerations=[GPU_TAINT],
    )
    return NodeSpec(**(args | kw))


def job(**kw: object) -> dict:
    return build_trainjob(
        "ppocrv3-cml-student-k", "ppocrv3", spec(**kw), owner_reference("launcher-pod", "uid-1")
    )


def node_pod_patch(body: dict) -> dict:
    (patch,) = body["spec"]["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    return node["template"]["spec"]["template"]


def test_trainjob_matches_the_trainer_crd() -> None:
    assert schema_errors(job()) == []
    assert schema_errors(job(gpus_per_node=0, node_selector={}, tolerations=[])) == []


def test_schema_check_catches_a_wrong_type() -> None:
    body = job()
    body["spec"]["trainer"]["numNodes"] = "3"
    assert any("numNodes" in e for e in schema_errors(body))


def test_trainjob_references_our_runtime_and_sizes_every_node() -> None:
    body = job()
    assert body["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": RUNTIME,
    }
    trainer = body["spec"]["trainer"]
    assert trainer["numNodes"] == 3 and trainer["args"][:2] == ["det-model", "train"]
    assert {e["name"]: e["value"] for e in trainer["env"]} == {
        "PADDLE_NNODES": "3",
        "PADDLE_NPROC_PER_NODE": "4",
    }
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "4"
    assert trainer["resourcesPerNode"]["requests"] == {"cpu": "8", "memory": "32Gi"}


def test_workers_get_the_pipelines_tolerations_node_selector_and_volumes() -> None:
    pod = node_pod_patch(job())
    assert pod["spec"]["tolerations"] == [GPU_TAINT]
    assert pod["spec"]["nodeSelector"] == {"pool": "a100"}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["shared"]["persistentVolumeClaim"] == {"claimName": "ppocrv3-shared"}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def test_owned_by_the_launcher_pod() -> None:
    assert job()["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "launcher-pod", "uid": "uid-1"}
    ]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(num_nodes=1), "at least 2 nodes"),
        (dict(shared_pvc=""), "ReadWriteMany"),
        (dict(image_pull_policy="Sometimes"), "image_pull_policy"),
    ],
)
def test_bad_node_specs_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**kw)


@pytest.mark.parametrize(
    "status, state",
    [
        ({}, "Pending"),
        ({"jobsStatus": [{"name": "node", "active": 2}]}, "Running"),
        ({"conditions": [{"type": "Complete", "status": "True", "reason": "JobsCompleted"}]}, "Succeeded"),
        (
            {"conditions": [{"type": "Failed", "status": "True", "reason": "JobFailed", "message": "x"}]},
            "Failed",
        ),
        ({"conditions": [{"type": "Complete", "status": "False"}]}, "Pending"),
    ],
)
def test_trainjob_state(status: dict, state: str) -> None:
    assert trainjob_state({"status": status})[0] == state


@pytest.mark.parametrize(
    "stage, key", [("dml-teacher", "0f8c2a1e6f7d4c3b"), ("cml-student", "Run_With.UPPER/" + "x" * 80)]
)
def test_job_names_leave_room_for_jobset_pod_hostnames(stage: str, key: str) -> None:
    import re

    name = job_name(stage, key)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name)
    assert len(f"{name}-node-0-15") <= 63 and name == job_name(stage, key)
