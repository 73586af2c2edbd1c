"""publish_results: evaluate's metrics + the student's history -> <results_uri>/<run id>/ (for `compare`)."""

from kfp import dsl
from kfp.dsl import Input, Metrics, Model

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def publish_results(metrics: Input[Metrics], student: Input[Model], results_uri: str, run_id: str):
    """A task of its own, never cached: the run id is its point, and keeping it out of evaluate's inputs
    lets an identical evaluation be a cache hit."""
    from pathlib import Path

    from components.report import publish_results as copy_results

    files = {
        "metrics.json": Path(metrics.path),
        "student_metrics.jsonl": Path(student.path) / "metrics.jsonl",
    }
    copy_results(results_uri, run_id, files)
    print(f"results of run {run_id} in {results_uri.rstrip('/')}/{run_id}/")
