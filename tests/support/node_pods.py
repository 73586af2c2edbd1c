"""The node pods Kubeflow Trainer (through JobSet) makes of our ClusterTrainingRuntime and a TrainJob body,
rendered as plain values, so that tests can run them as local processes or containers.

What is reproduced (Trainer v2.3 / JobSet semantics): the runtime's node container with the TrainJob's
image, args (and command when given) and env upserted by name into the runtime's env; the downward-API
fieldRefs the runtime uses (JobSet name label, Indexed-Job completion index, pod IP); `$(VAR)` references
expanded from the variables defined before them, as the kubelet does; numNodes pods with JobSet's hostname
`<jobset>-<replicatedJob>-0-<index>` and subdomain `<jobset>`; the volumes of the TrainJob's runtime patch
(PVC claims and a memory emptyDir on /dev/shm). Anything else the runtime asks for (another fieldRef, a
volume kind) raises, so a runtime change that this rendering does not cover fails the tests instead of
being ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import yaml

from components.trainjob import NODE_CONTAINER, NODE_JOB

RUNTIME_FILE = Path(__file__).resolve().parents[2] / "manifests" / "runtime" / "paddle-distributed.yaml"
JOBSET_NAME_LABEL = "metadata.labels['jobset.sigs.k8s.io/jobset-name']"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
POD_IP = "status.podIP"


@dataclass(frozen=True)
class NodePod:
    rank: int
    hostname: str  # <jobset>-node-0-<rank>
    subdomain: str  # <jobset>: the pod answers to <hostname>.<subdomain> (JobSet's headless service)
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: dict[str, str]
    claims: dict[str, str]  # PVC claim name -> mount path
    shm_size: Optional[str]  # sizeLimit of the memory emptyDir mounted on /dev/shm

    @property
    def dns_name(self) -> str:
        return f"{self.hostname}.{self.subdomain}"


def load_runtime() -> dict[str, Any]:
    return yaml.safe_load(RUNTIME_FILE.read_text())


def runtime_node_container(runtime: dict[str, Any]) -> dict[str, Any]:
    """The container `node` of the runtime's replicated job `node` (the names components/trainjob.py
    patches)."""
    jobs = {job["name"]: job for job in runtime["spec"]["template"]["spec"]["replicatedJobs"]}
    pod = jobs[NODE_JOB]["template"]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    return containers[NODE_CONTAINER]


def render_node_pods(
    trainjob: dict[str, Any], runtime: dict[str, Any], pod_ips: Sequence[str]
) -> list[NodePod]:
    """One NodePod per node of `trainjob` (a body as components/trainjob.py builds it); `pod_ips[i]` is
    pod i's address (status.podIP)."""
    name, trainer = trainjob["metadata"]["name"], trainjob["spec"]["trainer"]
    if trainjob["spec"]["runtimeRef"]["name"] != runtime["metadata"]["name"]:
        raise ValueError(f"TrainJob {name} references {trainjob['spec']['runtimeRef']}, not this runtime")
    container = runtime_node_container(runtime)
    claims, shm_size = _patched_volumes(trainjob)
    pods = []
    for rank in range(int(trainer["numNodes"])):
        fields = {JOBSET_NAME_LABEL: name, COMPLETION_INDEX: str(rank), POD_IP: pod_ips[rank]}
        pods.append(
            NodePod(
                rank=rank,
                hostname=f"{name}-{NODE_JOB}-0-{rank}",
                subdomain=name,
                image=trainer["image"],
                command=tuple(trainer.get("command") or container["command"]),
                args=tuple(trainer.get("args") or container.get("args") or ()),
                env=_expanded_env(_upserted(container.get("env", []), trainer.get("env") or []), fields),
                claims=claims,
                shm_size=shm_size,
            )
        )
    return pods


def _upserted(runtime_env: list[dict], trainjob_env: list[dict]) -> list[dict]:
    """Trainer's merge: a TrainJob variable replaces the runtime's of the same name in place, or is
    appended."""
    merged = {e["name"]: e for e in runtime_env}
    merged.update({e["name"]: e for e in trainjob_env})
    return list(merged.values())


def _expanded_env(env: list[dict], fields: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for var in env:
        if "valueFrom" in var:
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in fields:
                raise ValueError(f"env {var['name']}: fieldRef {path} is not rendered by support.node_pods")
            out[var["name"]] = fields[path]
        else:  # the kubelet expands $(NAME) from the variables defined before; unknown ones stay as written
            value = str(var.get("value", ""))
            out[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: out.get(m[1], m[0]), value)
    return out


def _patched_pod_specs(trainjob: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pod specs of the TrainJob's runtime patches; they must patch the runtime's node container only."""
    for patch in trainjob["spec"].get("runtimePatches") or []:
        for job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            pod = job["template"]["spec"]["template"]["spec"]
            names = sorted(c["name"] for c in pod.get("containers", []))
            if job["name"] != NODE_JOB or set(names) - {NODE_CONTAINER}:
                raise ValueError(f"runtime patch of {job['name']} {names}: not the runtime's node pod")
            yield pod


def _patched_volumes(trainjob: dict[str, Any]) -> tuple[dict[str, str], Optional[str]]:
    """(PVC claim -> mount path, /dev/shm size) from the TrainJob's runtime patch of the node pods."""
    claims: dict[str, str] = {}
    shm_size = None
    for pod in _patched_pod_specs(trainjob):
        containers = pod.get("containers", [])
        mounts = {m["name"]: m["mountPath"] for c in containers for m in c.get("volumeMounts", [])}
        for volume in pod.get("volumes", []):
            path = mounts[volume["name"]]
            if "persistentVolumeClaim" in volume:
                claims[volume["persistentVolumeClaim"]["claimName"]] = path
            elif volume.get("emptyDir", {}).get("medium") == "Memory" and path == "/dev/shm":
                shm_size = volume["emptyDir"].get("sizeLimit")
            else:
                raise ValueError(f"volume {volume['name']}: kind not rendered by support.node_pods")
    return claims, shm_size
