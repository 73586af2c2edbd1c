"""The detector flags `det-model infer` and `det-model serve` share, read into one DetectorOptions.

Defaults come from DetectorOptions, so each option is declared once; argparse checks the values first and
names the flag in its error.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from det_model.argtypes import positive_int
from det_model.inference.options import LIMIT_TYPES, DetectorOptions

DEFAULTS = DetectorOptions()


def add_detector_args(parser: argparse.ArgumentParser, *, slicing: bool) -> None:
    """--limit-side-len, --limit-type, --cpu-threads, --no-mkldnn, --use-gpu; --no-slice when `slicing`."""
    side, limit, threads = DEFAULTS.limit_side_len, DEFAULTS.limit_type, DEFAULTS.cpu_threads
    parser.add_argument("--limit-side-len", type=positive_int, default=side,
                        help=f"resize target in pixels for the side chosen by --limit-type (default {side})")
    parser.add_argument("--limit-type", choices=LIMIT_TYPES, default=limit,
                        help="max: shrink so the long side <= limit; min: enlarge so the short side >= "
                             f"limit; resize_long: the long side = limit (default {limit}, PaddleOCR's "
                             "inference setting)")
    if slicing:
        parser.add_argument("--no-slice", dest="slice_long_images", action="store_false",
                            help="resize very wide/tall images whole instead of detecting them in "
                                 "overlapping windows")
    parser.add_argument("--cpu-threads", type=positive_int, default=threads,
                        help=f"CPU math threads (default {threads})")
    parser.add_argument("--no-mkldnn", dest="enable_mkldnn", action="store_false",
                        help="plain CPU kernels instead of oneDNN (about 3.5x slower)")
    parser.add_argument("--use-gpu", action="store_true",
                        help="run on CUDA device 0; fails unless paddlepaddle-gpu sees a GPU")


def detector_options(args: argparse.Namespace) -> DetectorOptions:
    """The DetectorOptions of parsed flags (an option without a flag keeps its default)."""
    given = {f.name: getattr(args, f.name) for f in fields(DetectorOptions) if hasattr(args, f.name)}
    return DetectorOptions(**given)
