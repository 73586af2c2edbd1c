"""Pretrained inputs: file, prefix, folder, tar and ONNX sources (local, over S3 from a loopback S3-protocol
server (moto), over HTTP from a loopback file server); the part of a distillation file each sub-model gets;
and refusals (with key counts, or with what a folder holds) when nothing fits."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import paddle
import pytest
from minio import Minio
from support.paths import RELEASED_ONNX

from det_model.config import config_path, load_config
from det_model.data.fetch.errors import FetchError
from det_model.modeling.backbones.mobilenet_v3 import MobileNetV3
from det_model.modeling.detector import DBDetector
from det_model.modeling.heads.db_head import DBHead
from det_model.modeling.necks.rse_fpn import RSEFPN
from det_model.modeling.onnx_import import build_student
from det_model.modeling.weights import load_params_file, save_params
from det_model.training.pretrained import (
    PretrainedMismatchError,
    candidate_parts,
    pick_weights_file,
    resolve_for_config,
)

STUDENT_CONFIG = config_path("ch_PP-OCRv3_det_student.yml")


def other_detector() -> DBDetector:
    """A second architecture (narrower backbone and neck) standing in for a teacher: cheap to build."""
    backbone = MobileNetV3(scale=0.35, model_name="large", disable_se=True)
    neck = RSEFPN(backbone.out_channels, out_channels=64, shortcut=True)
    return DBDetector(backbone, neck, DBHead(neck.out_channels, k=50))


def weights_of(layer: paddle.nn.Layer, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=v.shape).astype("float32") for k, v in layer.state_dict().items()}


@pytest.fixture(scope="module")
def parts() -> dict[str, dict[str, np.ndarray]]:
    student = build_student()
    return {"Student": weights_of(student, 1), "Student2": weights_of(student, 2),
            "Teacher": weights_of(other_detector(), 3)}


def prefixed(parts: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{name}.{k}": v for name, params in parts.items() for k, v in params.items()}


def cml_like_config(tmp_path: Path):
    """The CML recipe's Student/Student2 plus a Teacher of `other_detector`'s shape (no ResNet50 to build)."""
    cfg = load_config(config_path("ch_PP-OCRv3_det_cml.yml"), [
        "Architecture.Models.Teacher.Backbone={name: MobileNetV3, scale: 0.35, model_name: large, disable_se: true}",
        "Architecture.Models.Teacher.Neck={name: RSEFPN, out_channels: 64, shortcut: true}",
        "Architecture.Models.Teacher.Head={name: DBHead, k: 50}",
    ])
    return cfg


def test_each_sub_model_gets_its_own_part_of_a_distillation_checkpoint(tmp_path: Path, parts) -> None:
    checkpoint = save_params(prefixed(parts), tmp_path / "ckpt" / "best_accuracy")
    uri = str(checkpoint.with_suffix(""))  # PaddleOCR's suffix-less prefix
    sources = {name: uri for name in ("Student", "Student2", "Teacher")}
    resolved = resolve_for_config(cml_like_config(tmp_path), sources, tmp_path / "work")
    for name in sources:
        assert resolved[name].fit.part == name
        written = load_params_file(resolved[name].path_prefix)
        assert written.keys() == parts[name].keys()
        key = next(iter(parts[name]))
        np.testing.assert_array_equal(written[key], parts[name][key])


def test_a_sub_model_takes_the_teacher_part_when_only_that_fits(tmp_path: Path, parts) -> None:
    """DML fine-tuning: the DML students have the teacher's architecture, so the Teacher part is picked."""
    save_params(prefixed(parts), tmp_path / "ckpt.pdparams")
    cfg = cml_like_config(tmp_path)
    resolved = resolve_for_config(cfg, {"Teacher": str(tmp_path / "ckpt.pdparams")}, tmp_path / "w")
    assert resolved["Teacher"].fit.part == "Teacher"
    two_students = {"Student": parts["Teacher"], "Student2": parts["Teacher"]}
    save_params(prefixed(two_students), tmp_path / "dml.pdparams")
    resolved = resolve_for_config(cfg, {"Teacher": str(tmp_path / "dml.pdparams")}, tmp_path / "w2")
    assert resolved["Teacher"].fit.part == "Student"  # a DML checkpoint's Student is a teacher


@pytest.mark.parametrize("layout", ["folder", "tar", "file-uri"])
def test_published_layouts_are_found(tmp_path: Path, parts, layout: str) -> None:
    folder = tmp_path / "pub"
    save_params(prefixed(parts), folder / "ch_PP-OCRv3_det_distill_train" / "best_accuracy")
    save_params(parts["Teacher"], folder / "ch_PP-OCRv3_det_distill_train" / "other")  # not picked
    uri = {"folder": str(folder), "file-uri": f"file://{folder}"}.get(layout)
    if layout == "tar":
        archive = tmp_path / "ch_PP-OCRv3_det_distill_train.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(folder / "ch_PP-OCRv3_det_distill_train", arcname="ch_PP-OCRv3_det_distill_train")
        uri = str(archive)
    cfg = load_config(STUDENT_CONFIG)
    resolved = resolve_for_config(cfg, {"Student": uri}, tmp_path / "work")
    assert resolved["Student"].fit.part == "Student"
    assert load_params_file(resolved["Student"].path_prefix).keys() == parts["Student"].keys()


def test_a_plain_student_file_fits_the_plain_model(tmp_path: Path, parts) -> None:
    save_params(parts["Student"], tmp_path / "student.pdparams")
    resolved = resolve_for_config(load_config(STUDENT_CONFIG), {"Student": str(tmp_path / "student.pdparams")},
                                  tmp_path / "w")
    assert resolved["Student"].fit.part is None
    assert resolved["Student"].fit.matched == len(parts["Student"])


@pytest.mark.parametrize("case", ["plain-into-teacher", "no-fitting-part", "partial-file"])
def test_weights_that_do_not_fit_fail_with_key_counts(tmp_path: Path, parts, case: str) -> None:
    cfg = cml_like_config(tmp_path)
    if case == "plain-into-teacher":
        params, sub_model = parts["Student"], "Teacher"
    elif case == "no-fitting-part":
        params, sub_model = prefixed({"Student": parts["Student"]}), "Teacher"
    else:
        params = {k: v for i, (k, v) in enumerate(parts["Student"].items()) if i % 2}
        sub_model = "Student"
    save_params(params, tmp_path / "w.pdparams")
    with pytest.raises(PretrainedMismatchError) as err:
        resolve_for_config(cfg, {sub_model: str(tmp_path / "w.pdparams")}, tmp_path / "work")
    message = str(err.value)
    assert f"sub-model {sub_model!r}" in message
    assert "missing " in message and "unexpected " in message
    assert "missing 0, unexpected 0, shape-mismatched 0" not in message
    assert not (tmp_path / "work" / f"{sub_model}.pdparams").exists()


@pytest.mark.parametrize("bad", ["nowhere.pdparams", "emptydir"])
def test_missing_sources_are_clear_errors(tmp_path: Path, bad: str) -> None:
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(FileNotFoundError, match="pretrained"):
        resolve_for_config(load_config(STUDENT_CONFIG), {"Student": str(tmp_path / bad)}, tmp_path / "w")


def test_unknown_sub_model_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sub-models \\['Teacher'\\]"):
        resolve_for_config(load_config(STUDENT_CONFIG), {"Teacher": "x"}, tmp_path)


def test_candidate_order_prefers_the_same_name_then_student_then_teacher() -> None:
    params = {f"{p}.backbone.w": np.zeros(1) for p in ("Teacher", "Student2", "Student", "Extra")}
    assert candidate_parts(params, "Student2") == ["Student2", "Student", "Teacher", "Extra"]
    assert candidate_parts({"backbone.w": np.zeros(1)}, "Teacher") == [None]


@pytest.mark.skipif(not RELEASED_ONNX.is_file(), reason=f"released ONNX not found at {RELEASED_ONNX}")
def test_the_released_onnx_fits_the_student_and_not_a_teacher(tmp_path: Path) -> None:
    resolved = resolve_for_config(load_config(STUDENT_CONFIG), {"Student": str(RELEASED_ONNX)}, tmp_path / "s")
    fit = resolved["Student"].fit
    assert fit.fits and fit.matched == 288 and fit.allowed_missing == ("head.thresh.",)
    with pytest.raises(PretrainedMismatchError, match="sub-model 'Teacher'"):
        resolve_for_config(cml_like_config(tmp_path), {"Teacher": str(RELEASED_ONNX)}, tmp_path / "t")


# ------------------------------------------------------------------------------- remote folders and prefixes

PUBLISHED = "models/ch_PP-OCRv3_det_distill_train"  # PaddleOCR's tar, extracted and uploaded as it is


def upload(endpoint: str, bucket: str, files: dict[str, bytes]) -> None:
    client = Minio(endpoint, access_key="a", secret_key="b", secure=False, region="us-east-1")
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    for key, data in files.items():
        client.put_object(bucket, key, io.BytesIO(data), len(data))


def published_files(tmp_path: Path, parts) -> dict[str, bytes]:
    """The files of the extracted published tar: weights, optimizer state, training state, log."""
    weights = save_params(prefixed(parts), tmp_path / "blob" / "best_accuracy").read_bytes()
    return {"best_accuracy.pdparams": weights, "best_accuracy.pdopt": b"optimizer",
            "best_accuracy.states": b"s", "train.log": b"log"}


@pytest.mark.parametrize("uri", [f"s3://weights/{PUBLISHED}/", f"s3://weights/{PUBLISHED}",
                                 f"s3://weights/{PUBLISHED}/best_accuracy"])
def test_an_s3_folder_or_prefix_works_like_a_local_one(s3_env: str, tmp_path: Path, parts, uri: str) -> None:
    """A folder prefix (with or without its `/`) picks best_accuracy.pdparams and downloads only that
    object; PaddleOCR's suffix-less prefix names the .pdparams itself. A longer-named sibling stays out."""
    upload(s3_env, "weights", {f"{PUBLISHED}/{n}": b for n, b in published_files(tmp_path, parts).items()})
    upload(s3_env, "weights", {f"{PUBLISHED}_v2/best_accuracy.pdparams": b"not these"})
    resolved = resolve_for_config(load_config(STUDENT_CONFIG), {"Student": uri}, tmp_path / "work")
    assert resolved["Student"].fit.part == "Student"
    assert load_params_file(resolved["Student"].path_prefix).keys() == parts["Student"].keys()
    work = tmp_path / "work"
    downloaded = sorted(p.name for p in work.rglob("*") if p.is_file() and "download" in p.parts)
    assert downloaded == ["best_accuracy.pdparams"]


@pytest.mark.parametrize("held, found", [
    ({"best_accuracy.pdopt": b"o", "train.log": b"l"}, "found: best_accuracy.pdopt, train.log"),
    ({"a.pdparams": b"a", "b.pdparams": b"b"}, "found: a.pdparams, b.pdparams"),
    ({}, "found: nothing"),
])
def test_an_s3_folder_without_fitting_weights_lists_what_it_holds(
    s3_env: str, tmp_path: Path, held: dict[str, bytes], found: str
) -> None:
    folder = f"incomplete-{len(held)}"
    upload(s3_env, "weights", {f"{folder}/{n}": b for n, b in held.items()})
    with pytest.raises(FileNotFoundError) as err:
        resolve_for_config(load_config(STUDENT_CONFIG), {"Student": f"s3://weights/{folder}/"}, tmp_path)
    assert f"pretrained s3://weights/{folder}/: no best_accuracy.pdparams" in str(err.value)
    assert found in str(err.value)


def test_https_sources_a_file_a_prefix_and_a_folder(file_server, tmp_path: Path, parts) -> None:
    """Files and PaddleOCR prefixes are fetched; a folder cannot be listed over http(s): the error says what
    to give instead, before any request for `folder/`, and after the 404 of a suffix-less folder name."""
    root, base = file_server
    for name, data in published_files(tmp_path, parts).items():
        (root / PUBLISHED).mkdir(parents=True, exist_ok=True)
        (root / PUBLISHED / name).write_bytes(data)
    cfg = load_config(STUDENT_CONFIG)
    file_and_prefix = (f"{base}/{PUBLISHED}/best_accuracy.pdparams", f"{base}/{PUBLISHED}/best_accuracy")
    for i, uri in enumerate(file_and_prefix):
        assert resolve_for_config(cfg, {"Student": uri}, tmp_path / f"ok{i}")["Student"].fit.part == "Student"
    with pytest.raises(FileNotFoundError, match="an https folder cannot be listed; give the file in it: "
                       f"{base}/{PUBLISHED}/best_accuracy.pdparams"):
        resolve_for_config(cfg, {"Student": f"{base}/{PUBLISHED}/"}, tmp_path / "folder")
    bare = f"{base}/{PUBLISHED}"
    with pytest.raises(FetchError, match=f"HTTP 404.*read as PaddleOCR's prefix of {bare}.pdparams"
                       f".*give {bare}/best_accuracy.pdparams"):
        resolve_for_config(cfg, {"Student": f"{base}/{PUBLISHED}"}, tmp_path / "bare")


@pytest.mark.parametrize("names, chosen", [
    (["best_accuracy.pdparams", "latest.pdparams", "best_accuracy.pdopt"], "best_accuracy.pdparams"),
    (["deep/er/best_accuracy.pdparams", "deep/best_accuracy.pdparams"], "deep/best_accuracy.pdparams"),
    (["student.pdparams", "train.log"], "student.pdparams"),
    (["a.pdparams", "b.pdparams"], None),
    (["a.pdparams", "ch_PP-OCRv3_det_infer.onnx"], "a.pdparams"),
    (["ch_PP-OCRv3_det_infer.onnx"], "ch_PP-OCRv3_det_infer.onnx"),
    (["best_accuracy.pdopt", "best_accuracy.states"], None),
    ([], None),
])
def test_the_weights_file_of_a_folder(names: list[str], chosen: str | None) -> None:
    assert pick_weights_file(names) == chosen
