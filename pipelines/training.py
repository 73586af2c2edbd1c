"""One training stage in the pipeline: a GPU task on one node, or a small launcher task for many nodes.

`add_training_stage` adds the stage to the pipeline being defined. With `num_nodes == 1` (a KFP condition,
decided at run time) the training component runs in its own pod with the GPUs, /dev/shm and the
ReadWriteOnce checkpoint PVC. Otherwise the same component runs as a launcher that asks for almost nothing
(no GPU): it stages data and config on the ReadWriteMany PVC and runs the stage as a TrainJob (or PaddleJob)
whose node pods get the GPUs and the pipeline's tolerations and node selector. Downstream tasks read the
outputs of whichever branch ran (`dsl.OneOf`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from kfp import dsl, kubernetes

from components.settings import CACHE_MOUNT

RETRY = dict(num_retries=2, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="3600s")
STAGE_OUTPUTS = ("model", "metrics", "resolved_config", "curves")
# The launcher's pod identity, for the owner reference of the distributed job (components/launcher.py).
POD_IDENTITY = {"POD_NAME": "metadata.name", "POD_UID": "metadata.uid"}


@dataclass(frozen=True)
class Placement:
    """Compile-time cluster choices of the training tasks (pipelines.pipeline.build_pipeline sets them)."""

    setup: Callable[..., dsl.PipelineTask]  # (task, kind, secret=...) -> task: resources, image, pull policy
    gpu: Callable[[dsl.PipelineTask, Any], None]  # (task, count): GPU limit, /dev/shm, scheduling
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    multinode: bool = True  # False: no condition, the single-node task only (kfp.local cannot pick OneOf)


def add_training_stage(
    component: Callable[..., dsl.PipelineTask],
    placement: Placement,
    *,
    gpu_limit: Any,
    num_nodes: Any,
    checkpoint_pvc: Any,
    shared_pvc: Any,
    **inputs: Any,
) -> Mapping[str, Any]:
    """Add the stage's task(s); returns its outputs by name (model, metrics, resolved_config, curves).

    `gpu_limit` is the single-node pod's GPU limit (the `gpus` parameter, or a compile-time constant);
    `inputs` are the component's own inputs."""
    forwarded = dict(
        num_nodes=num_nodes,
        node_selector=dict(placement.node_selector),
        tolerations=[dict(t) for t in placement.tolerations],
        **inputs,
    )
    if not placement.multinode:
        return _single_node(
            component(cache_pvc=checkpoint_pvc, **forwarded), placement, gpu_limit, checkpoint_pvc
        ).outputs
    with dsl.If(num_nodes == 1, name="single-node"):
        one = _single_node(
            component(cache_pvc=checkpoint_pvc, **forwarded), placement, gpu_limit, checkpoint_pvc
        )
    with dsl.Else(name="multi-node"):
        many = _launcher(component(cache_pvc=shared_pvc, **forwarded), placement, shared_pvc)
    return {name: dsl.OneOf(one.outputs[name], many.outputs[name]) for name in STAGE_OUTPUTS}


def _single_node(task: dsl.PipelineTask, placement: Placement, gpus: Any, pvc: Any) -> dsl.PipelineTask:
    placement.setup(task, "train", secret=True).set_retry(**RETRY)
    placement.gpu(task, gpus)
    kubernetes.mount_pvc(task, pvc_name=pvc, mount_path=CACHE_MOUNT)
    return task


def _launcher(task: dsl.PipelineTask, placement: Placement, pvc: Any) -> dsl.PipelineTask:
    """0.5 CPU, 1 GiB, no GPU: the node pods of the distributed job hold the GPUs, not this one."""
    placement.setup(task, "launcher", secret=True).set_retry(**RETRY)
    kubernetes.mount_pvc(task, pvc_name=pvc, mount_path=CACHE_MOUNT)
    for env, path in POD_IDENTITY.items():
        kubernetes.use_field_path_as_env(task, env_name=env, field_path=path)
    task.set_display_name(f"{task.component_spec.name}-launcher")
    return task
