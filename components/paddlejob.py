"""Multi-node training through a PaddleJob (Kubeflow Training Operator v1, `kubeflow.org/v1`).

The training component becomes a launcher when `num_nodes > 1`: it writes the data and resolved config to a
shared PVC, creates a collective-mode PaddleJob (Worker replicas only; the operator injects PADDLE_MASTER,
PADDLE_NNODES, ...), polls it, echoes every status change and raises `PaddleJobFailed` with the job's reason
so KFP marks the task failed. A retried launcher re-attaches to its running job (the name derives from the
run id), or replaces it when it had failed. The pod needs RBAC on paddlejobs (manifests/base/rbac.yaml).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Optional, Sequence

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "paddlejobs", "PaddleJob"
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class PaddleJobFailed(RuntimeError):
    """The PaddleJob ended in `Failed` (the message carries the operator's reason) or timed out."""


def job_name(stage: str, run_id: str) -> str:
    """A DNS-1123 name (<= 52 chars so pod and service names derived from it stay under 63)."""
    raw = f"ppocrv3-{stage}-{run_id}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw)[:52].strip("-")


def _worker_pod_spec(
    image: str,
    command: Sequence[str],
    gpus_per_node: int,
    pvc_name: str,
    mount_path: str,
    cpu: str,
    memory: str,
    shm_size: str,
) -> dict[str, Any]:
    """One Worker pod: the `paddle` container with its GPUs, the PVC at `mount_path` and a RAM /dev/shm."""
    resources: dict[str, dict[str, Any]] = {"requests": {"cpu": cpu, "memory": memory}, "limits": {}}
    if gpus_per_node > 0:
        resources["limits"]["nvidia.com/gpu"] = gpus_per_node
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "paddle",  # the operator looks the container up by this name
                "image": image,
                "command": list(command),
                "ports": [{"name": "master", "containerPort": 37777}],
                "resources": resources,
                "volumeMounts": [
                    {"name": "data", "mountPath": mount_path},
                    {"name": "dshm", "mountPath": "/dev/shm"},
                ],
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": pvc_name}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": shm_size}},
        ],
    }
    return pod_spec


def build_paddlejob(
    name: str,
    *,
    namespace: str,
    image: str,
    command: Sequence[str],
    num_nodes: int,
    gpus_per_node: int,
    pvc_name: str,
    mount_path: str,
    cpu: str = "8",
    memory: str = "32Gi",
    shm_size: str = "16Gi",
    node_selector: Optional[dict[str, str]] = None,
    tolerations: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    """The PaddleJob body: `num_nodes` Worker pods, each with `gpus_per_node` GPUs, the PVC and a /dev/shm."""
    pod_spec = _worker_pod_spec(image, command, gpus_per_node, pvc_name, mount_path, cpu, memory, shm_size)
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        pod_spec["tolerations"] = list(tolerations)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "ppocrv3-det"},
        },
        "spec": {
            "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 3, "ttlSecondsAfterFinished": 86400},
            "paddleReplicaSpecs": {
                "Worker": {
                    "replicas": num_nodes,
                    "restartPolicy": "OnFailure",
                    "template": {
                        # Istio sidecars keep the workers from finishing in Kubeflow profile namespaces.
                        "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                        "spec": pod_spec,
                    },
                }
            },
        },
    }


def launch_command(num_nodes: int, gpus_per_node: int, config_file: str) -> list[str]:
    """One `det-model train` per GPU on every node; paddle.distributed.launch reads the operator's env."""
    cmd = ["python", "-m", "paddle.distributed.launch", "--nnodes", str(num_nodes)]
    if gpus_per_node > 0:
        cmd += ["--nproc_per_node", str(gpus_per_node)]
    return cmd + ["det-model", "train", "-c", config_file]


def current_namespace(default: str = "kubeflow") -> str:
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as f:
            return f.read().strip() or default
    except OSError:
        return default


def default_api() -> Any:
    """CustomObjectsApi from the pod's service account (or ~/.kube/config outside a cluster)."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi()


def job_state(job: dict[str, Any]) -> tuple[str, str]:
    """(last condition type, 'reason: message') of a PaddleJob; ('Pending', '') before the operator reacts."""
    conditions = (job.get("status") or {}).get("conditions") or []
    if not conditions:
        return "Pending", ""
    last = conditions[-1]
    return last.get("type", "Unknown"), f"{last.get('reason', '')}: {last.get('message', '')}".strip(": ")


def run_paddlejob(
    job: dict[str, Any],
    api: Any,
    *,
    timeout_s: float = 7 * 86400,
    poll_s: float = 30.0,
    echo: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create (or re-attach to) `job`, wait for a terminal condition and return the final object."""
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    where = dict(group=GROUP, version=VERSION, namespace=namespace, plural=PLURAL)
    _create_or_attach(job, api, where, echo)
    deadline, last = clock() + timeout_s, ("", "")
    while True:
        current = api.get_namespaced_custom_object(name=name, **where)
        state = job_state(current)
        if state != last:
            replicas = (current.get("status") or {}).get("replicaStatuses") or {}
            echo(f"PaddleJob {namespace}/{name}: {state[0]} {state[1]} replicas={replicas}".rstrip())
            last = state
        if state[0] == "Succeeded":
            return current
        if state[0] == "Failed":
            raise PaddleJobFailed(f"PaddleJob {namespace}/{name} failed: {state[1] or 'no reason given'}")
        if clock() > deadline:
            api.delete_namespaced_custom_object(name=name, **where)
            raise PaddleJobFailed(
                f"PaddleJob {namespace}/{name} timed out after {timeout_s:.0f}s in {state[0]}"
            )
        sleep(poll_s)


def _create_or_attach(
    job: dict[str, Any], api: Any, where: dict[str, str], echo: Callable[[str], None]
) -> None:
    from kubernetes.client.exceptions import ApiException

    name = job["metadata"]["name"]
    try:
        api.create_namespaced_custom_object(body=job, **where)
        echo(f"PaddleJob {where['namespace']}/{name}: created")
        return
    except ApiException as exc:
        if exc.status != 409:
            raise
    existing = api.get_namespaced_custom_object(name=name, **where)
    if job_state(existing)[0] != "Failed":
        echo(f"PaddleJob {where['namespace']}/{name}: already exists; attaching (retried launcher)")
        return
    echo(f"PaddleJob {where['namespace']}/{name}: previous attempt failed; replacing it")
    api.delete_namespaced_custom_object(name=name, **where)
    api.create_namespaced_custom_object(body=job, **where)
