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
    run_id: str = "",
    results_uri: str = "",
    num_samples: int = 4,
):
    """ICDAR2015-protocol evaluation of best_accuracy on label_eval.txt (det_model.evaluation)."""
    import json
    import tempfile
    from pathlib import Path

    from components.overrides import inference_overrides
    from components.report import publish_results, write_report
    from det_model.config import read_config
    from det_model.evaluation import evaluate_checkpoint
    from det_model.training.history import METRICS_LOG

    recipe = read_config(config.path)
    cfg = recipe.with_overrides(inference_overrides(recipe.config, model.path, dataset.path) + overrides)
    work = Path(tempfile.mkdtemp(prefix="evaluate-"))
    result = evaluate_checkpoint(cfg, work)
    scalars = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
    for key, value in scalars.items():
        metrics.log_metric(key, value)
    Path(metrics.path).write_text(json.dumps(scalars, indent=2))  # also a file, for object-store readers
    write_report(Path(report.path), scalars, Path(dataset.path), work, num_samples)
    if results_uri:
        publish_results(
            results_uri,
            run_id,
            {"metrics.json": Path(metrics.path), "student_metrics.jsonl": Path(model.path) / METRICS_LOG},
        )
