"""Multi-node training on Kubeflow Trainer v2: a `TrainJob` of our Paddle ClusterTrainingRuntime.

The runtime (manifests/runtime/paddle-distributed.yaml) starts `python -m paddle.distributed.launch <args>` in
every node pod and finds the master by JobSet's stable pod DNS name; the TrainJob built here supplies the
image, the program, node count, per-node resources and (as a runtime patch) the shared volume, /dev/shm,
tolerations and node selector. Built with the typed models of `kubeflow-trainer-api` 2.3.0.
"""

from __future__ import annotations

from typing import Any, Optional

from components.distributed import NO_SIDECAR, PART_OF, NodeSpec

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
RUNTIME = "ppocrv3-paddle-distributed"  # metadata.name in manifests/runtime/paddle-distributed.yaml
NODE_JOB, NODE_CONTAINER = "node", "node"  # replicatedJobs[].name and its container in the runtime
PATCH_MANAGER = "ppocrv3-det.launcher"
POD_SELECTOR = "jobset.sigs.k8s.io/jobset-name={name}"  # JobSet labels every pod with its JobSet's name


def build_trainjob(
    name: str, namespace: str, spec: NodeSpec, owner: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """The TrainJob body (a plain dict, as CustomObjectsApi sends it)."""
    from kubeflow_trainer_api import models as m

    env = {"PADDLE_NNODES": str(spec.num_nodes), "PADDLE_NPROC_PER_NODE": str(spec.procs_per_node)}
    job = m.TrainerV1alpha1TrainJob(
        api_version=f"{GROUP}/{VERSION}",
        kind=KIND,
        metadata=m.IoK8sApimachineryPkgApisMetaV1ObjectMeta(
            name=name,
            namespace=namespace,
            labels=dict(PART_OF),
            owner_references=[m.IoK8sApimachineryPkgApisMetaV1OwnerReference(**_snake(owner))]
            if owner
            else None,
        ),
        spec=m.TrainerV1alpha1TrainJobSpec(
            runtime_ref=m.TrainerV1alpha1RuntimeRef(
                name=RUNTIME, kind="ClusterTrainingRuntime", api_group=GROUP
            ),
            active_deadline_seconds=spec.timeout_s,
            trainer=m.TrainerV1alpha1Trainer(
                image=spec.image,
                args=list(spec.args),
                num_nodes=spec.num_nodes,
                env=[m.IoK8sApiCoreV1EnvVar(name=k, value=v) for k, v in env.items()],
                resources_per_node=m.IoK8sApiCoreV1ResourceRequirements(
                    requests={
                        k: m.IoK8sApimachineryPkgApiResourceQuantity(v) for k, v in spec.requests().items()
                    },
                    limits={
                        k: m.IoK8sApimachineryPkgApiResourceQuantity(v) for k, v in spec.limits().items()
                    },
                ),
            ),
            runtime_patches=[_node_patch(spec)],
        ),
    )
    return job.to_dict()


def _node_patch(spec: NodeSpec) -> Any:
    """Volumes, /dev/shm, scheduling constraints and pod annotations of the runtime's node pods."""
    from kubeflow_trainer_api import models as m

    pod = m.TrainerV1alpha1PodSpecPatch(
        volumes=[m.IoK8sApiCoreV1Volume.from_dict(v) for v in spec.volumes()],
        containers=[
            m.TrainerV1alpha1ContainerPatch(
                name=NODE_CONTAINER,
                volume_mounts=[m.IoK8sApiCoreV1VolumeMount.from_dict(v) for v in spec.volume_mounts()],
            )
        ],
        node_selector=dict(spec.node_selector) or None,
        tolerations=[m.IoK8sApiCoreV1Toleration.from_dict(dict(t)) for t in spec.tolerations] or None,
    )
    template = m.TrainerV1alpha1JobSetTemplatePatch(
        spec=m.TrainerV1alpha1JobSetSpecPatch(
            replicated_jobs=[
                m.TrainerV1alpha1ReplicatedJobPatch(
                    name=NODE_JOB,
                    template=m.TrainerV1alpha1JobTemplatePatch(
                        spec=m.TrainerV1alpha1JobSpecPatch(
                            template=m.TrainerV1alpha1PodTemplatePatch(
                                metadata=m.IoK8sApimachineryPkgApisMetaV1ObjectMeta(
                                    labels=dict(PART_OF), annotations=dict(NO_SIDECAR)
                                ),
                                spec=pod,
                            )
                        )
                    ),
                )
            ]
        )
    )
    return m.TrainerV1alpha1RuntimePatch(
        manager=PATCH_MANAGER,
        training_runtime_spec=m.TrainerV1alpha1TrainingRuntimeSpecPatch(template=template),
    )


def _snake(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "api_version": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["name"],
        "uid": owner["uid"],
    }


def trainjob_state(job: dict[str, Any]) -> tuple[str, str]:
    """('Succeeded' | 'Failed' | 'Suspended' | 'Running' | 'Pending', 'reason: message') of a TrainJob."""
    conditions = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    by_type = {c.get("type"): c for c in conditions}
    for kind, state in (("Failed", "Failed"), ("Complete", "Succeeded"), ("Suspended", "Suspended")):
        if kind in by_type:
            c = by_type[kind]
            return state, f"{c.get('reason', '')}: {c.get('message', '')}".strip(": ")
    jobs = (job.get("status") or {}).get("jobsStatus") or []
    return ("Running" if any(j.get("active") or j.get("ready") for j in jobs) else "Pending"), ""
