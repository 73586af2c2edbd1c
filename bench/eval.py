"""eval: `det-model eval` vs `det-model infer` on the same images and settings, and a CML checkpoint's
evaluation (all three sub-models, as PaddleOCR) vs student-only (the default).

1. Released weights imported into the student; `evaluate_checkpoint` (what `det-model eval` runs, with the
   inference program, det_model/program_eval.py) and `infer_images` (what `det-model infer` runs on the
   exported folder) over the same held-out synthetic images at 512 / max, 2 CPU threads, interleaved; both
   wall times include reading the images, the network and post-processing (eval adds the metric and building
   its program, infer adds drawing the boxes). Goal: eval images/s >= 0.8x infer's.
2. The CML recipe (ResNet50 teacher, Student, Student2) with random weights: `Global.eval_all_sub_models=true`
   (every sub-model in dygraph, as PaddleOCR) vs the default (Student only, inference program).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import paddle

from bench.common import CONFIG_DIR, RELEASED_ONNX, BenchOptions, Figure, SectionSkipped, interleaved, median

TITLE = "Evaluation vs inference (images/s) and CML-checkpoint evaluation"
THREADS = 2
HELD_OUT = (20, 303)  # synthetic images, seed
CML_IMAGES = 2
RESIZE = ["Eval.dataset.transforms.2.DetResizeForTest.limit_side_len=512",
          "Eval.dataset.transforms.2.DetResizeForTest.limit_type=max", "Eval.loader.num_workers=0"]


def _config(recipe: str, data: Path, *extra: str):
    from det_model.config import load_config

    return load_config(CONFIG_DIR / recipe, ["Global.use_gpu=false", f"Eval.dataset.data_dir={data}",
                                             f"Eval.dataset.label_file_list=[{data / 'label.txt'}]", *RESIZE, *extra])


def student_setup(work: Path, count: int) -> tuple[object, Path, Path]:
    """(eval config, exported student folder, data folder) with the released weights."""
    from det_model.data.sources.synth import generate_synthetic
    from det_model.export import export_model
    from det_model.modeling.onnx_import import import_onnx

    import_onnx(RELEASED_ONNX, work / "student.pdparams")
    generate_synthetic(work / "data", count, seed=HELD_OUT[1])
    cfg = _config("ch_PP-OCRv3_det_student.yml", work / "data", f"Global.pretrained_model={work / 'student.pdparams'}",
                  f"Global.save_inference_dir={work / 'inference'}", "Global.export_onnx=false")
    (folder,) = export_model(cfg).values()
    return cfg, Path(folder), work / "data"


def eval_vs_infer(work: Path, count: int, repeats: int) -> tuple[list[Figure], list[dict]]:
    from det_model.evaluation import evaluate_checkpoint
    from det_model.inference.detector import infer_images
    from det_model.inference.options import DetectorOptions
    from det_model.program_eval import program_forward

    cfg, folder, data = student_setup(work, count)
    forward_ips: dict[str, list[float]] = {"det-model eval": [], "det-model infer": []}
    build_s: list[float] = []

    def timed_build(detector):
        tick = time.perf_counter()
        forward = program_forward(detector)
        build_s.append(time.perf_counter() - tick)
        return forward

    def run_eval() -> None:
        forward_ips["det-model eval"].append(evaluate_checkpoint(cfg, work / "eval_out", timed_build)["fps"])

    def run_infer() -> None:
        infer_images(folder, data / "images", work / "infer_out",
                     DetectorOptions(limit_side_len=512, limit_type="max", cpu_threads=THREADS))
        lines = [json.loads(l) for l in (work / "infer_out" / "results.jsonl").read_text().splitlines()]
        forward_ips["det-model infer"].append(1e3 / float(np.mean([l["timing_ms"]["forward_ms"] for l in lines])))

    wall = interleaved({"det-model eval": run_eval, "det-model infer": run_infer}, repeats=repeats, warmup=1)
    ips = {n: forward_ips[n][1:] for n in forward_ips}  # without the warm-up run
    same = _same_boxes(work / "eval_out" / "predictions.jsonl", work / "infer_out" / "results.jsonl")
    figures = [
        Figure(f"det-model eval vs det-model infer, network images/s ({count} images 384x512, 512/max, "
               f"{THREADS} threads), median of {repeats}", median(ips["det-model eval"]),
               median(ips["det-model infer"]), "images/s", ">= 0.8"),
        Figure("the same, whole command wall time (images/s; eval also builds the model, loads weights and "
               "builds its program)", count / median(wall["det-model eval"]), count / median(wall["det-model infer"]),
               "images/s", "", note="no goal in the issue"),
    ]
    rows = [{"run": n, "network images/s (median)": round(median(v), 2), "min-max": f"{min(v):.2f}-{max(v):.2f}",
             "wall s (median)": round(median(wall[n]), 2)} for n, v in ips.items()]
    rows[0]["program build s (median)"] = round(median(build_s), 2)
    rows[1]["same boxes as eval"] = same
    return figures, rows


def _same_boxes(predictions: Path, results: Path) -> str:
    """Eval's polygons vs infer's boxes per image (infer also orders and clips them: compared as point sets)."""
    ours = {json.loads(l)["image"]: json.loads(l)["polygons"] for l in predictions.read_text().splitlines()}
    theirs = {Path(json.loads(l)["image"]).name: json.loads(l).get("boxes", []) for l in results.read_text().splitlines()}
    differing = 0
    for name, boxes in ours.items():
        a = sorted(np.round(np.asarray(b), 0).tolist() for b in boxes)
        b = sorted(np.round(np.asarray(b), 0).tolist() for b in theirs.get(name, []))
        differing += len(a) != len(b) or any(sorted(p) != sorted(q) for p, q in zip(a, b))
    return f"{len(ours) - differing}/{len(ours)} images"


def cml_eval(work: Path, count: int) -> tuple[list[Figure], list[dict]]:
    from det_model.evaluation import evaluate_checkpoint
    from det_model.modeling import build_model
    from det_model.program_eval import program_forward

    data = work / "data"
    base = _config("ch_PP-OCRv3_det_cml.yml", data)
    paddle.seed(7)
    model = build_model(base.Architecture)
    paddle.save(model.state_dict(), str(work / "cml.pdparams"))
    subset = work / "cml_data"
    shutil.copytree(data, subset, dirs_exist_ok=True)
    (subset / "label.txt").write_text("\n".join((data / "label.txt").read_text().splitlines()[:count]) + "\n")
    weights = f"Global.pretrained_model={work / 'cml.pdparams'}"
    variants = {"all sub-models (dygraph, as PaddleOCR)": (["Global.eval_all_sub_models=true"], None),
                "Student only (default, inference program)": ([], program_forward)}
    rows, seconds = [], {}
    for name, (extra, build) in variants.items():
        cfg = _config("ch_PP-OCRv3_det_cml.yml", subset, weights, *extra)
        (seconds[name],) = interleaved({name: lambda: evaluate_checkpoint(cfg, work / "cml_out", build)},
                                       repeats=1, warmup=0)[name]
        rows.append({"evaluation": name, "s/image": round(seconds[name] / count, 2), "images": count})
    names = list(variants)
    figure = Figure(f"CML checkpoint: student-only eval vs all sub-models, s/image ({count} images, 512/max)",
                    seconds[names[1]] / count, seconds[names[0]] / count, "s/image", "",
                    note="no goal in the issue")
    return [figure], rows


def run(options: BenchOptions) -> dict:
    if not RELEASED_ONNX.is_file():
        raise SectionSkipped(f"released model not found at {RELEASED_ONNX}")
    work = options.work_dir / "eval"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    count = options.max_images or (4 if options.quick else HELD_OUT[0])
    repeats = options.repeats or (1 if options.quick else 5)
    figures, rows = eval_vs_infer(work, count, repeats)
    cml_figures, cml_rows = cml_eval(work, min(CML_IMAGES, count))
    notes = [f"{count} held-out synthetic images (seed {HELD_OUT[1]}), released weights; {repeats} interleaved "
             "runs of each command after one warm-up run; eval's time includes building its program once.",
             "CML: random weights (the timing does not depend on them), one run each."]
    return {"title": TITLE, "figures": figures + cml_figures,
            "tables": {"eval vs infer": rows, "CML checkpoint": cml_rows}, "notes": notes}
