"""What the multi-node engines share: the node pods' description, job names and the owner reference.

Plain Python (no kfp): `components.trainjob` (Kubeflow Trainer v2, the default engine) and
`components.paddlejob` (Training Operator v1.9, `engine=paddlejob`) turn a `NodeSpec` into their object;
`components.launcher` creates it and follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

ENGINES = ("trainjob", "paddlejob")
PART_OF = {"app.kubernetes.io/part-of": "ppocrv3-det"}
# An Istio sidecar never exits, so a node pod would never complete in a Kubeflow profile namespace.
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
MASTER_PORT = 36543
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass(frozen=True)
class NodeSpec:
    """One training node pod: image, program, resources, shared volume and scheduling constraints."""

    image: str
    args: Sequence[str]  # run under `python -m paddle.distributed.launch` on every node
    num_nodes: int
    gpus_per_node: int
    shared_pvc: str
    mount_path: str
    cpu: str = "8"
    memory: str = "32Gi"
    memory_limit: str = "64Gi"
    shm_size: str = "16Gi"
    image_pull_policy: str = "IfNotPresent"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    timeout_s: int = 2 * 86400

    def __post_init__(self) -> None:
        if self.num_nodes < 2:
            raise ValueError(f"num_nodes={self.num_nodes}: a multi-node job needs at least 2 nodes")
        if self.gpus_per_node < 0:
            raise ValueError(f"gpus_per_node={self.gpus_per_node}: must be >= 0")
        if self.image_pull_policy not in PULL_POLICIES:
            raise ValueError(
                f"image_pull_policy={self.image_pull_policy!r}; known: {', '.join(PULL_POLICIES)}"
            )
        if not self.shared_pvc:
            raise ValueError(
                "a multi-node job needs a ReadWriteMany PVC (shared_pvc) for data and checkpoints"
            )

    @property
    def procs_per_node(self) -> int:
        return max(self.gpus_per_node, 1)

    def requests(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}

    def limits(self) -> dict[str, str]:
        out = {"memory": self.memory_limit}
        if self.gpus_per_node > 0:
            out["nvidia.com/gpu"] = str(self.gpus_per_node)
        return out

    def volumes(self) -> list[dict[str, Any]]:
        return [
            {"name": "shared", "persistentVolumeClaim": {"claimName": self.shared_pvc}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": self.shm_size}},
        ]

    def volume_mounts(self) -> list[dict[str, str]]:
        return [{"name": "shared", "mountPath": self.mount_path}, {"name": "dshm", "mountPath": "/dev/shm"}]


def job_name(stage: str, key: str) -> str:
    """A DNS-1123 name (<= 40 chars: JobSet pod hostnames `<name>-node-0-<i>` must stay under 63)."""
    raw = f"ppocrv3-{stage}-{key}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw)[:40].strip("-")


def owner_reference(pod_name: str, pod_uid: str) -> Optional[dict[str, Any]]:
    """The launcher pod as owner: deleting the pod (run terminated or garbage-collected) deletes the job."""
    if not (pod_name and pod_uid):
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid}
