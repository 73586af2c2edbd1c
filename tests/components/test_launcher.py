"""The multi-node launcher (components/launcher.py) against mocked kubernetes APIs (autospec).

Issue 14 point 7: SIGTERM (a real signal) deletes the job; a failed job is replaced only after its
asynchronous delete finished; node logs and scheduling events reach the step log; a timeout deletes the job.
Point 13: the Role of each engine grants exactly the calls recorded here.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from support.k8s_schemas import manifests_copy, render
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from components.launcher import ENGINES, Follower, JobFailed

NS, NAME = "ppocrv3", "ppocrv3-cml-student-k1"
BODY = {"metadata": {"name": NAME, "namespace": NS}, "spec": {}}


def complete(engine: str = "trainjob") -> dict:
    kind = {"trainjob": "Complete", "paddlejob": "Succeeded"}[engine]  # the engines name success differently
    return {"metadata": {}, "status": {"conditions": [{"type": kind, "status": "True", "reason": "Done"}]}}


def failed(message: str = "node-1 OOMKilled") -> dict:
    condition = {"type": "Failed", "status": "True", "reason": "JobFailed", "message": message}
    return {"metadata": {}, "status": {"conditions": [condition]}}


def running() -> dict:
    return {"metadata": {}, "status": {"jobsStatus": [{"name": "node", "active": 2}]}}


def deleting() -> dict:
    return {"metadata": {"deletionTimestamp": "2026-11-30T05:00:00Z"}, "status": {}}


def not_found() -> ApiException:
    return ApiException(status=404, reason="NotFound")


def event(uid: str, reason: str, pod: str, message: str) -> k8s.CoreV1Event:
    return k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(uid=uid),
        involved_object=k8s.V1ObjectReference(kind="Pod", name=pod),
        reason=reason,
        message=message,
        type="Warning",
    )


def pod(name: str, phase: str = "Running") -> k8s.V1Pod:
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name), status=k8s.V1PodStatus(phase=phase))


@pytest.fixture
def apis() -> tuple[mock.MagicMock, mock.MagicMock]:
    custom = mock.create_autospec(k8s.CustomObjectsApi, instance=True)
    core = mock.create_autospec(k8s.CoreV1Api, instance=True)
    core.list_namespaced_event.return_value = k8s.CoreV1EventList(items=[])
    core.list_namespaced_pod.return_value = k8s.V1PodList(items=[])
    core.read_namespaced_pod_log.return_value = ""
    return custom, core


def follower(apis, engine: str = "trainjob", **kw: object) -> tuple[Follower, list[str]]:
    lines: list[str] = []
    kw = {"poll_s": 0, "sleep": lambda s: None, **kw}
    return Follower(ENGINES[engine], BODY, *apis, echo=lines.append, **kw), lines


def test_success_echoes_states_events_and_node_logs_once(apis) -> None:
    custom, core = apis
    custom.get_namespaced_custom_object.side_effect = [{}, running(), running(), complete()]
    core.list_namespaced_event.return_value = k8s.CoreV1EventList(
        items=[
            event("e1", "FailedScheduling", f"{NAME}-node-0-1", "0/4 nodes: Insufficient nvidia.com/gpu"),
            event("e2", "Pulled", "someone-else-0", "not ours"),
        ]
    )
    core.list_namespaced_pod.return_value = k8s.V1PodList(items=[pod(f"{NAME}-node-0-0")])
    core.read_namespaced_pod_log.side_effect = [
        "2026-11-30T05:00:01Z epoch 1 loss 0.9\n",
        "2026-11-30T05:00:01Z epoch 1 loss 0.9\n2026-11-30T05:00:09Z epoch 2 loss 0.7\n",
        "2026-11-30T05:00:09Z epoch 2 loss 0.7\n",
        "",
    ]
    f, lines = follower(apis)
    f.run(timeout_s=3600)
    assert lines.count(f"[{NAME}-node-0-0] epoch 1 loss 0.9") == 1
    assert lines.count(f"[{NAME}-node-0-0] epoch 2 loss 0.7") == 1
    assert sum("FailedScheduling" in line and "Insufficient nvidia.com/gpu" in line for line in lines) == 1
    assert not any("not ours" in line for line in lines)
    assert [line.split(": ")[1].split()[0] for line in lines if line.startswith("TrainJob")] == [
        "created", "Pending", "Running", "Succeeded",
    ]  # fmt: skip
    kwargs = custom.create_namespaced_custom_object.call_args.kwargs
    assert (kwargs["group"], kwargs["plural"], kwargs["namespace"]) == (
        "trainer.kubeflow.org",
        "trainjobs",
        NS,
    )
    assert (
        core.list_namespaced_pod.call_args.kwargs["label_selector"]
        == f"jobset.sigs.k8s.io/jobset-name={NAME}"
    )


def test_failure_raises_with_the_reason(apis) -> None:
    custom, _ = apis
    custom.get_namespaced_custom_object.side_effect = [running(), failed()]
    with pytest.raises(JobFailed, match="JobFailed: node-1 OOMKilled"):
        follower(apis)[0].run(timeout_s=3600)


def test_timeout_deletes_the_job(apis) -> None:
    custom, _ = apis
    custom.get_namespaced_custom_object.return_value = running()
    ticks = iter(range(0, 10**6, 1000))
    with pytest.raises(JobFailed, match="timed out"):
        follower(apis, clock=lambda: next(ticks))[0].run(timeout_s=3600)
    custom.delete_namespaced_custom_object.assert_called_once()


def test_retried_launcher_attaches_to_a_running_job(apis) -> None:
    custom, _ = apis
    custom.create_namespaced_custom_object.side_effect = ApiException(status=409, reason="AlreadyExists")
    custom.get_namespaced_custom_object.side_effect = [running(), running(), complete()]
    _, lines = follower(apis)
    follower_, lines = follower(apis)
    follower_.run(timeout_s=3600)
    assert "attaching" in lines[0]
    custom.delete_namespaced_custom_object.assert_not_called()


def test_failed_job_is_recreated_only_after_its_delete_finished(apis) -> None:
    custom, _ = apis
    custom.create_namespaced_custom_object.side_effect = [ApiException(status=409), None]
    # failed -> (delete) -> still there while its pods go -> gone -> (create) -> runs to completion
    custom.get_namespaced_custom_object.side_effect = [
        failed("old"),
        deleting(),
        deleting(),
        not_found(),
        complete(),
    ]
    f, lines = follower(apis)
    f.run(timeout_s=3600)
    names = [c[0] for c in custom.mock_calls]
    assert names == [
        "create_namespaced_custom_object",
        "get_namespaced_custom_object",
        "delete_namespaced_custom_object",
        "get_namespaced_custom_object",
        "get_namespaced_custom_object",
        "get_namespaced_custom_object",  # 404: only now is it created again
        "create_namespaced_custom_object",
        "get_namespaced_custom_object",
    ]
    assert custom.delete_namespaced_custom_object.call_args.kwargs["propagation_policy"] == "Foreground"
    assert any("re-created" in line for line in lines)


def test_a_delete_that_never_finishes_is_an_error_not_a_409(apis) -> None:
    custom, _ = apis
    custom.create_namespaced_custom_object.side_effect = [ApiException(status=409)]
    custom.get_namespaced_custom_object.return_value = deleting()
    ticks = iter(range(0, 10**6, 30))
    with pytest.raises(JobFailed, match="still being deleted"):
        follower(apis, clock=lambda: next(ticks))[0].run(timeout_s=3600)
    assert custom.create_namespaced_custom_object.call_count == 1


def test_sigterm_deletes_the_job_and_exits_143(apis) -> None:
    custom, _ = apis
    custom.get_namespaced_custom_object.return_value = running()
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))  # a real signal, as kubelet sends it
    timer.start()
    try:
        with pytest.raises(SystemExit) as exited:
            follower(apis, poll_s=0.02, sleep=time.sleep)[0].run(timeout_s=3600)
    finally:
        timer.cancel()
    assert exited.value.code == 143
    custom.delete_namespaced_custom_object.assert_called_once()
    assert custom.delete_namespaced_custom_object.call_args.kwargs["name"] == NAME
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored


def test_other_api_errors_propagate(apis) -> None:
    custom, _ = apis
    custom.create_namespaced_custom_object.side_effect = ApiException(status=403, reason="Forbidden")
    with pytest.raises(ApiException):
        follower(apis)[0].run(timeout_s=3600)


# ------------------------------------------------------------------------------------------ 13. exact RBAC
VERBS = {
    "create_namespaced_custom_object": "create",
    "get_namespaced_custom_object": "get",
    "delete_namespaced_custom_object": "delete",
    "list_namespaced_pod": ("pods", "list"),
    "read_namespaced_pod_log": ("pods/log", "get"),
    "list_namespaced_event": ("events", "list"),
}


def used_permissions(engine: str) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every call the launcher made in all the scenarios above."""
    used = set()
    scenarios = [  # (create results, get results): replace a failed job; a fresh job with node logs
        ([ApiException(status=409), None], [failed(), not_found(), running(), complete(engine)]),
        ([None], [running(), complete(engine)]),
    ]
    for creates, gets in scenarios:
        custom = mock.create_autospec(k8s.CustomObjectsApi, instance=True)
        core = mock.create_autospec(k8s.CoreV1Api, instance=True)
        core.list_namespaced_event.return_value = k8s.CoreV1EventList(items=[])
        core.list_namespaced_pod.return_value = k8s.V1PodList(items=[pod(f"{NAME}-0")])
        core.read_namespaced_pod_log.return_value = ""
        custom.create_namespaced_custom_object.side_effect = creates
        custom.get_namespaced_custom_object.side_effect = gets
        Follower(
            ENGINES[engine], BODY, custom, core, poll_s=0, echo=lambda s: None, sleep=lambda s: None
        ).run(60)
        group, plural = ENGINES[engine].group, ENGINES[engine].plural
        for api in (custom, core):
            for call in api.mock_calls:
                verb = VERBS[call[0]]
                used.add((group, plural, verb) if isinstance(verb, str) else ("", *verb))
    return used


@pytest.mark.parametrize("engine", ["trainjob", "paddlejob"])
def test_role_grants_exactly_what_the_launcher_calls(engine: str, tmp_path: Path) -> None:
    overlay = manifests_copy(tmp_path) / "overlays" / "rbac-only"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"components:\n  - ../../components/rbac-{engine}\n"
    )
    (role,) = [d for d in render(overlay) if d["kind"] == "Role"]
    granted = {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert granted == used_permissions(engine)
