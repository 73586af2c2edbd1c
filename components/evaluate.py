"""evaluate: Dataset + trained Model -> Metrics (precision, recall, hmean, images) + HTML sample boxes."""

from typing import List

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    dataset: Input[Dataset],
    model: Input[Model],
    config: Input[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
    overrides: List[str],
    num_samples: int = 4,
    baseline_uri: str = "",
):
    """ICDAR2015-protocol evaluation of best_accuracy on label_eval.txt (det_model.evaluation).

    With `baseline_uri` (the students' starting weights) those are evaluated on the same images too: the
    report shows both side by side, and the metrics get `start_*` twins (e.g. start_hmean).
    """
    import json
    import tempfile
    from pathlib import Path

    from components.overrides import inference_overrides
    from components.recipe_inputs import evaluate_start_weights
    from components.report import write_report
    from det_model.config import read_config
    from det_model.evaluation import evaluate_checkpoint
    from det_model.program_eval import forward_builder

    recipe = read_config(config.path)
    cfg = recipe.with_overrides(inference_overrides(recipe.config, model.path, dataset.path) + overrides)
    work = Path(tempfile.mkdtemp(prefix="evaluate-"))
    result = evaluate_checkpoint(cfg, work, forward_builder(cfg))
    scalars = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
    start = evaluate_start_weights(baseline_uri, cfg, work / "start") if baseline_uri else None
    scalars.update({f"start_{k}": v for k, v in (start or {}).items()})
    for key, value in scalars.items():
        metrics.log_metric(key, value)
    Path(metrics.path).write_text(json.dumps(scalars, indent=2))  # also a file, for object-store readers
    start_dir = work / "start" / "eval" if start else None
    write_report(
        Path(report.path), scalars, Path(dataset.path), work, num_samples, start_dir, dict(model.metadata)
    )
