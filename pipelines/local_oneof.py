"""kfp 2.17.0's local runner resolves `dsl.OneOf` for parameters but not for artifacts: a OneOf of Model
outputs stops the run with "Expected 1 artifact in ArtifactSelectorSpec. Got: 4". `enable_artifact_oneof()`
gives artifacts the runner's own rule for parameters (the one selector whose branch produced a value). It only
touches the local runner (`kfp.local`); compiled pipelines and cluster runs resolve OneOf in the KFP backend.
"""

from __future__ import annotations

from typing import Any


def _dag_output_artifacts(cls: type, dag_outputs_spec: Any, io_store: Any) -> dict[str, Any]:
    outputs = {}
    for key, selector_spec in dag_outputs_spec.artifacts.items():
        found = []
        for selector in selector_spec.artifact_selectors:
            try:
                value = io_store.get_task_output(selector.producer_subtask, selector.output_artifact_key)
            except (KeyError, ValueError):  # that branch did not run
                continue
            found.append(value)
        if len(found) != 1:
            raise ValueError(f"dsl.OneOf artifact {key!r}: {len(found)} branches produced it; expected one")
        outputs[key] = found[0]
    return outputs


def enable_artifact_oneof() -> None:
    from kfp.local.orchestrator.orchestrator_utils import OrchestratorUtils

    OrchestratorUtils.get_dag_output_artifacts = classmethod(_dag_output_artifacts)
