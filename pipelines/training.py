"""One training stage in the pipeline: a GPU task on one node, or a small launcher task for many nodes.

`add_training_stage` adds the stage to the pipeline being defined. With `num_nodes == 1` (a KFP condition,
decided at run time) the training component runs in its own pod with the GPUs, /dev/shm and the
ReadWriteOnce checkpoint PVC. Otherwise the same component runs as a launcher that asks for almost nothing
(no GPU): it stages data and config on the ReadWriteMany PVC and runs the stage as a TrainJob (or PaddleJob)
whose node pods get the GPUs and the pipeline's tolerations and node selector. Downstream tasks read the
outputs of whichever branch ran (`dsl.OneOf`).
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

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
    stages: Mapping[str, Callable[..., dsl.PipelineTask]] = field(default_factory=dict)  # stage_pipelines


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


def add_training_stage_group(
    component: Callable[..., dsl.PipelineTask], placement: Placement, *, gpu_limit: Any, **inputs: Any
) -> Mapping[str, Any]:
    """`add_training_stage`, through its stage pipeline (`stage_pipelines`) when it has both branches: a
    recipe branch hands its outputs to a `dsl.OneOf`, and a OneOf cannot contain another (the stage's
    single/multi-node one). Returns the stage's outputs by name."""
    if not placement.multinode:
        return add_training_stage(component, placement, gpu_limit=gpu_limit, **inputs)
    inputs["cache_pvc"] = inputs.pop("checkpoint_pvc")  # the component's name for it
    task = placement.stages[component.component_spec.name](**inputs)
    task.set_display_name(component.component_spec.name)
    return task.outputs


def stage_pipelines(
    components: Sequence[Callable[..., dsl.PipelineTask]], placement: Placement, gpu_limit: Any
) -> dict[str, Callable[..., dsl.PipelineTask]]:
    """Each training component's stage (both branches) as a pipeline component, by component name. Built
    before the pipeline function: KFP defines no pipeline inside another. `gpu_limit`: a compile-time
    constant, or None when the pipeline's `gpus` parameter gives it."""
    return {c.component_spec.name: _stage_pipeline(c, placement, gpu_limit) for c in components}


def _stage_pipeline(
    component: Callable[..., dsl.PipelineTask], placement: Placement, gpu_limit: Any
) -> Callable[..., dsl.PipelineTask]:
    """A pipeline taking the component's inputs (less those the placement fixes) and shared_pvc, returning
    the stage's outputs. The GPU limit is the `gpus` input unless `gpu_limit` fixes it at compile time."""
    P = inspect.Parameter
    own = [p.replace(annotation=_strip_optional(p.annotation)) for p in
           inspect.signature(component.python_func).parameters.values()]
    types = {p.name: p.annotation for p in own}
    outputs = NamedTuple("StageOutputs", [(n, types[n].__args__[0]) for n in STAGE_OUTPUTS])  # type: ignore[misc]
    kept = [p for p in own if p.name not in (*STAGE_OUTPUTS, "node_selector", "tolerations")]
    params = [p for p in kept if p.default is P.empty]
    params.append(P("shared_pvc", P.POSITIONAL_OR_KEYWORD, annotation=str))
    params += [p for p in kept if p.default is not P.empty]
    names = [p.name for p in params]

    def stage(*args: Any):
        bound = dict(zip(names, args))
        gpus, pvc = bound["gpus"] if gpu_limit is None else gpu_limit, bound.pop("cache_pvc")
        found = add_training_stage(component, placement, gpu_limit=gpus, checkpoint_pvc=pvc, **bound)
        return outputs(**{n: found[n] for n in STAGE_OUTPUTS})

    stage.__signature__ = inspect.Signature(params, return_annotation=outputs)  # type: ignore[attr-defined]
    return dsl.pipeline(name=f"{component.component_spec.name}-stage")(stage)


def _strip_optional(annotation: Any) -> Any:
    """Optional[Input[Model]] -> Input[Model]: the stage component only takes the inputs it is given."""
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    return args[0] if typing.get_origin(annotation) is typing.Union and len(args) == 1 else annotation
