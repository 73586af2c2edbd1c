"""extract_params: DML teacher checkpoint -> Model holding `dml_teacher.pdparams` (one sub-model)."""

from kfp import dsl
from kfp.dsl import Input, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def extract_params(teacher: Input[Model], params: Output[Model], sub_model: str = "Student"):
    """Keep the `{sub_model}.` weights of best_accuracy.pdparams as dml_teacher.pdparams (as PaddleOCR)."""
    from pathlib import Path

    from det_model.training import extract_params as extract
    from det_model.training.checkpoint import BEST

    out_dir = Path(params.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = extract(
        Path(teacher.path) / f"{BEST}.pdparams", out_dir / "dml_teacher.pdparams", prefix=sub_model
    )
    params.metadata.update({"file": Path(written).name, "sub_model": sub_model})
    # The teacher's training summary travels on, so the evaluate report can say how trained the teacher was.
    summary = ("steps", "epochs", "hmean")
    params.metadata.update({f"teacher_{k}": teacher.metadata[k] for k in summary if k in teacher.metadata})
