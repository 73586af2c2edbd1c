"""Multi-node training on Training Operator v1.9 (`engine=paddlejob`): a collective-mode `PaddleJob`.

Worker replicas only (collective mode, what data-parallel DML/CML training needs); the operator injects
PADDLE_MASTER, PADDLE_NNODES, ... into the container named `paddle`. Built with the typed models of
`kubeflow-training` 1.9.4 and the kubernetes client models; Training Operator v1 is deprecated, so
`engine=trainjob` (components/trainjob.py) is the default.
"""

from __future__ import annotations

from typing import Any, Optional

from components.distributed import NO_SIDECAR, PART_OF, NodeSpec

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "paddlejobs", "PaddleJob"
MASTER_PORT = 37777
POD_SELECTOR = "training.kubeflow.org/job-name={name}"  # the operator labels every pod of a job with this


def build_paddlejob(
    name: str, namespace: str, spec: NodeSpec, owner: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """The PaddleJob body (a plain dict, as CustomObjectsApi sends it)."""
    from kubeflow.training import (
        KubeflowOrgV1PaddleJob,
        KubeflowOrgV1PaddleJobSpec,
        KubeflowOrgV1ReplicaSpec,
        KubeflowOrgV1RunPolicy,
    )
    from kubernetes import client as k8s

    container = k8s.V1Container(
        name="paddle",  # the operator looks the container up by this name
        image=spec.image,
        image_pull_policy=spec.image_pull_policy,
        command=launch_command(spec),
        ports=[k8s.V1ContainerPort(name="master", container_port=MASTER_PORT)],
        resources=k8s.V1ResourceRequirements(requests=spec.requests(), limits=spec.limits()),
        volume_mounts=[
            k8s.V1VolumeMount(name=m["name"], mount_path=m["mountPath"]) for m in spec.volume_mounts()
        ],
    )
    pod = k8s.V1PodSpec(
        containers=[container],
        volumes=spec.volumes(),
        node_selector=dict(spec.node_selector) or None,
        tolerations=[dict(t) for t in spec.tolerations] or None,
    )
    job = KubeflowOrgV1PaddleJob(
        api_version=f"{GROUP}/{VERSION}",
        kind=KIND,
        metadata=k8s.V1ObjectMeta(
            name=name, namespace=namespace, labels=dict(PART_OF), owner_references=[owner] if owner else None
        ),
        spec=KubeflowOrgV1PaddleJobSpec(
            run_policy=KubeflowOrgV1RunPolicy(
                clean_pod_policy="Running",
                backoff_limit=0,
                ttl_seconds_after_finished=86400,
                active_deadline_seconds=spec.timeout_s,
            ),
            paddle_replica_specs={
                "Worker": KubeflowOrgV1ReplicaSpec(
                    replicas=spec.num_nodes,
                    restart_policy="Never",
                    template=k8s.V1PodTemplateSpec(
                        metadata=k8s.V1ObjectMeta(labels=dict(PART_OF), annotations=dict(NO_SIDECAR)),
                        spec=pod,
                    ),
                )
            },
        ),
    )
    return k8s.ApiClient().sanitize_for_serialization(job)


def launch_command(spec: NodeSpec) -> list[str]:
    """`paddle.distributed.launch` over all nodes, one process per GPU; it reads the operator's env."""
    return [
        "python", "-m", "paddle.distributed.launch",
        "--nnodes", str(spec.num_nodes),
        "--nproc_per_node", str(spec.procs_per_node),
        *spec.args,
    ]  # fmt: skip


def paddlejob_state(job: dict[str, Any]) -> tuple[str, str]:
    """(last condition type, 'reason: message') of a PaddleJob; ('Pending', '') before the operator reacts."""
    conditions = (job.get("status") or {}).get("conditions") or []
    if not conditions:
        return "Pending", ""
    last = conditions[-1]
    return last.get("type", "Unknown"), f"{last.get('reason', '')}: {last.get('message', '')}".strip(": ")
