"""`python -m bench [--only NAME ...] [--quick]`: run the benchmark sections, write bench/results/<name>.json,
regenerate docs/benchmarks.md (from every JSON present, so one section can be re-run alone) and print it."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Optional, Sequence

from bench.common import (
    DOC_PATH, RESULTS_DIR, BenchOptions, SectionResult, SectionSkipped, command_line, machine_info, versions,
)
from bench.report import write_doc

# name -> module; run in this order (cheap and most informative first).
SECTIONS = {
    "postprocess": "bench.postprocess",
    "inference": "bench.inference",
    "int8": "bench.int8",
    "eval": "bench.eval",
    "data_pipeline": "bench.data_pipeline",
    "train_step": "bench.train_step",
    "pipeline_run": "bench.pipeline_run",
    "serving": "bench.serving",
}


def _section_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", type=_section_names, action="append", default=[], metavar="NAME[,NAME]",
                        help=f"run only these sections (repeatable); known: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="few images/repeats: a smoke run, not a measurement")
    parser.add_argument("--max-images", type=int, help="use only the first N sample images")
    parser.add_argument("--repeats", type=int, help="override each section's repeat count")
    parser.add_argument("--profile", action="store_true", help="add a cProfile top list of our side")
    parser.add_argument("--full-size", action="store_true",
                        help="train_step: all recipes at batch 8, 640x640 (the teachers need tens of GiB)")
    parser.add_argument("--images-dir", type=Path, help="sample images (default ../shared/data/icdar2015_sample/images)")
    parser.add_argument("--label-file", type=Path, help="their PaddleOCR-format labels")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--doc", type=Path, default=DOC_PATH, help="markdown report to regenerate")
    return parser


def run_section(name: str, options: BenchOptions) -> SectionResult:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_info()
    tick = time.perf_counter()
    module = importlib.import_module(SECTIONS[name])
    base = dict(name=name, title=getattr(module, "TITLE", name), command=command_line(name, options),
                machine=machine, versions=versions(), started=started, quick=options.quick)
    try:
        out = module.run(options)
    except SectionSkipped as exc:
        print(f"[bench] {name}: skipped: {exc}", file=sys.stderr)
        return SectionResult(seconds=time.perf_counter() - tick, skipped=str(exc), **base)
    versions_ = {**base.pop("versions"), **out.get("versions", {})}
    return SectionResult(seconds=time.perf_counter() - tick, versions=versions_, figures=out.get("figures", []),
                         tables=out.get("tables", {}), notes=out.get("notes", []), **base)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    options = BenchOptions(quick=args.quick, max_images=args.max_images, repeats=args.repeats, profile=args.profile,
                           full_size=args.full_size)
    if args.images_dir:
        options.images_dir = args.images_dir
    if args.label_file:
        options.label_file = args.label_file
    names = [n for group in args.only for n in group] or list(SECTIONS)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            result = run_section(name, options)
        except Exception:  # noqa: BLE001 - one broken section must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        path = args.results_dir / f"{name}.json"
        path.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        for f in result.figures:
            verdict = f"goal {f.goal}: {'met' if f.met else 'NOT met'}" if f.goal else "no goal"
            ratio = "-" if f.ratio is None else f"{f.ratio:.3f}"
            print(f"[bench] {name}: {f.name}: ours {f.ours:.4g} {f.unit}, reference {f.reference:.4g} {f.unit}, "
                  f"ratio {ratio} ({verdict})", file=sys.stderr, flush=True)
    doc = write_doc(list(SECTIONS), args.results_dir, args.doc)
    print(doc.read_text(encoding="utf-8"))
    if failed:
        print(f"[bench] failed sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
