"""det-model export: old-IR and PIR inference folders, parity with the dygraph model, distillation layout, ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest
import yaml
from support.infer_fixtures import config, random_weights

from det_model.export import export_model
from det_model.inference.predictor import create_predictor, run_predictor
from det_model.modeling import build_model, load_weights
from det_model.modeling.backbones.mobilenet_v3 import ResidualUnit

STUDENT = "ch_PP-OCRv3_det_student.yml"


PROGRAMS = {False: "inference.pdmodel", True: "inference.json"}  # by Global.export_with_pir


@pytest.fixture(scope="module", params=[False, True], ids=["old_ir", "pir"])
def student_export(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, bool]:
    with_pir = request.param
    tmp = tmp_path_factory.mktemp("export")
    weights = random_weights(config(STUDENT), tmp / "student.pdparams")
    folders = export_model(
        config(
            STUDENT,
            f"Global.pretrained_model={weights}",
            f"Global.save_inference_dir={tmp / 'inf'}",
            f"Global.export_with_pir={str(with_pir).lower()}",
        )
    )
    return tmp / "inf", weights, folders, with_pir


def test_student_folder_holds_program_params_and_settings(student_export):
    root, _, folders, with_pir = student_export
    assert folders == {"model": root}
    files = {p.name for p in root.iterdir()}
    assert files >= {PROGRAMS[with_pir], "inference.pdiparams", "inference.yml"}
    assert PROGRAMS[not with_pir] not in files
    settings = yaml.safe_load((root / "inference.yml").read_text())
    cfg = config(STUDENT)
    assert settings["PostProcess"]["box_thresh"] == cfg.PostProcess.box_thresh == 0.6
    assert settings["PostProcess"]["unclip_ratio"] == cfg.PostProcess.unclip_ratio == 1.5
    resize = settings["PreProcess"]["transform_ops"][1]["DetResizeForTest"]
    assert resize == {"limit_side_len": 960, "limit_type": "max"}


def test_default_export_is_old_ir_like_paddleocr():
    assert config(STUDENT).Global.export_with_pir is False


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (3, 3, 96, 160)])  # dynamic N, H, W
def test_exported_output_equals_dygraph(student_export, shape):
    root, weights, _, _ = student_export
    model = build_model(config(STUDENT).Architecture)
    load_weights(model, weights)
    model.eval()
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    with paddle.no_grad():
        expected = model(paddle.to_tensor(x)).shrink.numpy()
    got = run_predictor(create_predictor(root, cpu_threads=0), x)
    assert got.shape == (shape[0], 1, *shape[2:])
    assert np.abs(got - expected).max() <= 1e-5


def test_onnx_export_matches_paddle_inference(student_export):
    pytest.importorskip("paddle2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    root, _, _, _ = student_export
    onnx_path = root / "inference.onnx"
    assert onnx_path.is_file(), "export wrote no inference.onnx (see the export log)"
    x = np.random.default_rng(4).standard_normal((2, 3, 64, 96)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    assert np.abs(got - run_predictor(create_predictor(root, cpu_threads=0), x)).max() <= 1e-5


def test_export_in_the_other_format_replaces_the_earlier_program(tmp_path, student_export):
    _, weights, _, _ = student_export
    for with_pir in (True, False):
        export_model(
            config(
                STUDENT,
                f"Global.pretrained_model={weights}",
                f"Global.save_inference_dir={tmp_path}",
                f"Global.export_with_pir={str(with_pir).lower()}",
                "Global.export_onnx=false",
            )
        )
        files = {p.name for p in tmp_path.iterdir()}
        assert PROGRAMS[with_pir] in files and PROGRAMS[not with_pir] not in files
    assert "inference.pdiparams.info" in files  # written by the old-IR save


def test_distillation_exports_one_folder_per_sub_model(tmp_path):
    # A narrower teacher neck keeps the test quick; the layout does not depend on it.
    small_teacher = "Architecture.Models.Teacher.Neck.out_channels=32"
    weights = random_weights(config("ch_PP-OCRv3_det_cml.yml", small_teacher), tmp_path / "cml.pdparams")
    cfg = config(
        "ch_PP-OCRv3_det_cml.yml",
        small_teacher,
        f"Global.pretrained_model={weights}",
        f"Global.save_inference_dir={tmp_path / 'inf'}",
        "Global.export_onnx=false",
    )
    folders = export_model(cfg)
    assert list(folders) == ["Student", "Student2", "Teacher"]
    for name, folder in folders.items():
        assert folder == tmp_path / "inf" / name
        assert (folder / "inference.pdmodel").is_file() and (folder / "inference.pdiparams").is_file()
        assert not (folder / "inference.onnx").exists()  # Global.export_onnx=false
    # The student folder holds the student: its parameters file is far smaller than the teacher's.
    assert (folders["Student"] / "inference.pdiparams").stat().st_size < (
        folders["Teacher"] / "inference.pdiparams"
    ).stat().st_size / 3


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["Global.save_inference_dir={out}"], ValueError, "no weights"),  # only random init to export
        (["Global.pretrained_model={weights}"], ValueError, "save_inference_dir"),  # no output folder
        (["Global.checkpoints={missing}", "Global.save_inference_dir={out}"], FileNotFoundError, "missing"),
    ],
)
def test_export_refuses_incomplete_settings(tmp_path, student_export, overrides, error, match):
    _, weights, _, _ = student_export
    values = {"out": tmp_path / "out", "weights": weights, "missing": tmp_path / "missing"}
    with pytest.raises(error, match=match):
        export_model(config(STUDENT, *(o.format(**values) for o in overrides)))


def old_ir_ops(program_prefix: Path) -> list:
    """The operators of an old-IR inference program, in order."""
    paddle.enable_static()
    try:
        with paddle.pir_utils.OldIrGuard():
            program, _, _ = paddle.static.load_inference_model(
                str(program_prefix), paddle.static.Executor(paddle.CPUPlace())
            )
            return list(program.global_block().ops)
    finally:
        paddle.disable_static()


@pytest.mark.parametrize("student_export", [False], ids=["old_ir"], indirect=True)
def test_old_ir_program_has_the_forms_paddle_inference_fuses(student_export):
    """Upsampling as nearest_interp_v2 (oneDNN resampling); every conv bias as elementwise_add(axis=1) on the
    [C] parameter right after its conv2d (fused into it); the RSE residual as one multiply by (1 + SE); the
    head tail as DeployHead's two 1x1 convolutions, sigmoid and depth-to-space (no transposed convolution)."""
    root, _, _, _ = student_export
    ops = old_ir_ops(root / "inference")
    types = [op.type for op in ops]
    assert types.count("nearest_interp_v2") == 6  # 3 top-down + the x8, x4, x2 before the concat
    assert "conv2d_transpose" not in types and "reshape2" not in types
    assert types[-8:] == ["conv2d", "elementwise_add", "relu", "conv2d", "elementwise_add", "sigmoid",
                          "pixel_shuffle", "fetch"]
    assert ops[-2].attr("upscale_factor") == 4
    produced_by = {name: op for op in ops for name in op.output_arg_names}
    adds = [op for op in ops if op.type == "elementwise_add"]
    parameter_adds = [op for op in adds if op.input("Y")[0] not in produced_by]
    assert len(parameter_adds) == 2 * 8 + 2  # the 8 RSE SE blocks' two 1x1 convs + DeployHead's two
    for add in parameter_adds:
        assert add.attr("axis") == 1 and produced_by[add.input("X")[0]].type == "conv2d"
    feature_adds = [op for op in adds if op not in parameter_adds]
    backbone = build_model(config(STUDENT).Architecture).backbone
    shortcuts = sum(isinstance(layer, ResidualUnit) and layer.use_shortcut for layer in backbone.sublayers())
    assert shortcuts > 0 and len(feature_adds) == shortcuts + 3  # + the FPN top-down sums; RSE: x * (1 + SE)
    assert types.count("elementwise_mul") == 8 and types.count("scale") == 8


def test_import_onnx_reads_back_our_own_export(student_export, tmp_path):
    """Row 14 of issue 16: `det-model import-onnx` of our exported ONNX (DeployHead form) gives a student
    that computes the exported map."""
    pytest.importorskip("paddle2onnx")
    from det_model.modeling.onnx_import import build_student, import_onnx

    root, weights, _, _ = student_export
    report = import_onnx(root / "inference.onnx", tmp_path / "reimported")
    assert report.deploy_head and all(k.startswith("head.thresh.") for k in report.left_at_init)
    original, reimported = build_student(), build_student()
    load_weights(original, weights)
    load_weights(reimported, tmp_path / "reimported.pdparams")
    original.eval()
    reimported.eval()
    x = paddle.to_tensor(np.random.default_rng(3).standard_normal((1, 3, 96, 128)).astype("float32"))
    difference = np.abs(original(x).shrink.numpy() - reimported(x).shrink.numpy()).max()
    assert difference < 1e-5
