"""The PaddleJob launcher (components/paddlejob.py) against a mocked kubernetes CustomObjectsApi."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from support.kfp_helpers import crd_validator
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from components.paddlejob import (
    PaddleJobFailed,
    build_paddlejob,
    job_name,
    job_state,
    launch_command,
    run_paddlejob,
)

CRD = Path(__file__).resolve().parents[2] / ".." / "shared" / "k8s" / "kubeflow.org_paddlejobs.v1.9.0.yaml"


def make_job(**kw: object) -> dict:
    args = dict(
        namespace="team-ocr",
        image="reg/ppocrv3-det:gpu",
        command=launch_command(2, 4, "/cache/c.yml"),
        num_nodes=2,
        gpus_per_node=4,
        pvc_name="ppocrv3-cache",
        mount_path="/cache",
    )
    return build_paddlejob("ppocrv3-dml-teacher-abc", **(args | kw))


def status(*types: str, reason: str = "", message: str = "") -> dict:
    conditions = [{"type": t, "status": "True"} for t in types]
    if conditions:
        conditions[-1].update(reason=reason, message=message)
    return {"status": {"conditions": conditions, "replicaStatuses": {"Worker": {"active": 2}}}}


@pytest.fixture
def api() -> mock.MagicMock:
    return mock.create_autospec(k8s.CustomObjectsApi, instance=True)


def run(job: dict, api: mock.MagicMock, **kw: object) -> tuple[dict, list[str]]:
    lines: list[str] = []
    result = run_paddlejob(job, api, poll_s=0, echo=lines.append, sleep=lambda s: None, **kw)
    return result, lines


def test_job_matches_the_operator_crd() -> None:
    if not CRD.exists():
        pytest.skip(f"PaddleJob CRD not found at {CRD} (../shared is absent)")
    errors = [e.message for e in crd_validator(CRD).iter_errors(make_job(node_selector={"pool": "gpu"}))]
    assert errors == []
    broken = make_job()
    broken["spec"]["paddleReplicaSpecs"]["Worker"]["replicas"] = "2"
    assert [e.message for e in crd_validator(CRD).iter_errors(broken)]  # the check can fail


def test_job_shape() -> None:
    job = make_job(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    worker = job["spec"]["paddleReplicaSpecs"]["Worker"]
    container = worker["template"]["spec"]["containers"][0]
    assert worker["replicas"] == 2 and container["name"] == "paddle"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 4}
    assert container["command"][-4:] == ["det-model", "train", "-c", "/cache/c.yml"]
    assert "--nnodes" in container["command"] and "Master" not in job["spec"]["paddleReplicaSpecs"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in worker["template"][
        "spec"
    ]["volumes"]


def test_success_streams_each_status_change_once(api: mock.MagicMock) -> None:
    api.get_namespaced_custom_object.side_effect = [
        {},
        status("Created"),
        status("Created", "Running"),
        status("Created", "Running"),
        status("Created", "Running", "Succeeded", reason="PaddleJobSucceeded"),
    ]
    result, lines = run(make_job(), api)
    api.create_namespaced_custom_object.assert_called_once()
    kwargs = api.create_namespaced_custom_object.call_args.kwargs
    assert (kwargs["group"], kwargs["version"], kwargs["plural"], kwargs["namespace"]) == (
        "kubeflow.org",
        "v1",
        "paddlejobs",
        "team-ocr",
    )
    assert job_state(result)[0] == "Succeeded"
    assert [line.split(": ", 1)[1].split()[0] for line in lines] == [
        "created",
        "Pending",
        "Created",
        "Running",
        "Succeeded",
    ]


def test_failure_raises_with_the_jobs_reason(api: mock.MagicMock) -> None:
    api.get_namespaced_custom_object.side_effect = [
        status("Running"),
        status("Running", "Failed", reason="PaddleJobFailed", message="worker-1 OOMKilled"),
    ]
    with pytest.raises(PaddleJobFailed, match="PaddleJobFailed: worker-1 OOMKilled"):
        run(make_job(), api)


def test_timeout_deletes_the_job(api: mock.MagicMock) -> None:
    api.get_namespaced_custom_object.return_value = status("Running")
    ticks = iter(range(100))
    with pytest.raises(PaddleJobFailed, match="timed out"):
        run(make_job(), api, timeout_s=3, clock=lambda: next(ticks))
    api.delete_namespaced_custom_object.assert_called_once()


def test_retried_launcher_attaches_to_a_running_job(api: mock.MagicMock) -> None:
    api.create_namespaced_custom_object.side_effect = ApiException(status=409, reason="AlreadyExists")
    api.get_namespaced_custom_object.side_effect = [status("Running"), status("Running", "Succeeded")]
    _, lines = run(make_job(), api)
    assert "attaching" in lines[0]
    api.delete_namespaced_custom_object.assert_not_called()


def test_retried_launcher_replaces_a_failed_job(api: mock.MagicMock) -> None:
    api.create_namespaced_custom_object.side_effect = [ApiException(status=409), None]
    api.get_namespaced_custom_object.side_effect = [status("Failed", reason="Old"), status("Succeeded")]
    _, lines = run(make_job(), api)
    api.delete_namespaced_custom_object.assert_called_once()
    assert api.create_namespaced_custom_object.call_count == 2 and "replacing" in lines[0]


def test_other_api_errors_propagate(api: mock.MagicMock) -> None:
    api.create_namespaced_custom_object.side_effect = ApiException(status=403, reason="Forbidden")
    with pytest.raises(ApiException):
        run(make_job(), api)


@pytest.mark.parametrize(
    "stage, run_id",
    [
        ("dml-teacher", "0f8c2a1e-6f7d-4c3b-9e55-1234567890ab"),  # a KFP run UUID
        ("cml-student", "Run_With.UPPER/case"),  # characters Kubernetes names refuse
        ("cml-student", "x" * 200),  # far too long
    ],
)
def test_job_names_are_dns_labels(stage: str, run_id: str) -> None:
    import re

    name = job_name(stage, run_id)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name) and len(name) <= 52
    assert name == job_name(stage, run_id)  # stable, so a retried launcher finds its job
