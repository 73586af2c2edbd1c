"""`python -m pipelines`: compile, run-local, upload, run, compare, fetch-released."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from components.image import BASE_IMAGE
from pipelines.remote import Auth


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=value")
    return key, value


def _toleration(text: str) -> dict:
    """`key[=value]:Effect` (operator Equal with a value, Exists without), or a JSON object."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    spec, _, effect = text.rpartition(":")
    key, sep, value = spec.partition("=")
    if not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
        )
    return {"key": key, "operator": "Equal" if sep else "Exists", "value": value or None, "effect": effect}


class _Parser(argparse.ArgumentParser):
    """`--help` of run-local/run appends the pipeline's parameters; computed only then (it imports kfp)."""

    lists_parameters = ""  # "local" (run-local's defaults) or "remote"

    def format_help(self) -> str:
        text = super().format_help()
        if not self.lists_parameters:
            return text
        from pipelines.local import LOCAL_DEFAULTS
        from pipelines.params import describe
        from pipelines.pipeline import ppocrv3_det

        local = LOCAL_DEFAULTS if self.lists_parameters == "local" else {}
        return f"{text}\n{describe(ppocrv3_det, local)}\n"


def _compile_options(p: argparse.ArgumentParser) -> None:
    """The compile-time choices (pipelines.pipeline.CompileChoices)."""
    p.add_argument(
        "--image",
        default=BASE_IMAGE,
        help=f"image of every task: <registry>/<name>:<tag> or @sha256:<digest> (default {BASE_IMAGE}, "
        "local only: upload and run refuse an image without a registry)",
    )
    p.add_argument("--image-pull-policy", default="IfNotPresent", choices=("IfNotPresent", "Always", "Never"))
    p.add_argument(
        "--gpus",
        type=int,
        dest="static_gpus",
        metavar="N",
        help="fix the training GPU count at compile time (backends < 2.4 ignore a count in a parameter)",
    )
    p.add_argument("--data-version", help="pin the data: caches fetch under this version")
    p.add_argument("--scratch-storage-class", help="storage class of the per-pod scratch volumes")
    p.add_argument(
        "--artifact-root",
        default="/minio",
        help="KFP's local artifact folder: /minio for minio:// pipeline roots (default), /s3 for s3://",
    )
    p.add_argument("--node-selector", type=_key_value, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--toleration",
        type=_toleration,
        action="append",
        metavar="KEY[=VALUE]:EFFECT",
        help="replaces the default nvidia.com/gpu toleration (repeatable)",
    )


def _cluster_options(p: argparse.ArgumentParser, host_required: bool = True) -> None:
    """Where the KFP API is and how to authenticate (kfp.Client's token, cookies or credentials)."""
    p.add_argument("--host", required=host_required, help="KFP API (the Kubeflow gateway, or a port-forward)")
    p.add_argument("--namespace", help="profile namespace (multi-user Kubeflow)")
    p.add_argument("--token", default=os.environ.get("KFP_TOKEN", ""), help="bearer token (env KFP_TOKEN)")
    p.add_argument(
        "--cookies", default=os.environ.get("KFP_COOKIES", ""), help="session cookie(s) (env KFP_COOKIES)"
    )
    p.add_argument("--sa-token-path", default="", help="in-cluster: projected ServiceAccount token file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    set_help = "a pipeline parameter (repeatable); the parameters, types and defaults are listed below"

    p = sub.add_parser("compile", help="compile the pipeline to YAML")
    p.add_argument("-o", "--output", type=Path, default=Path("ppocrv3_det.yaml"))
    _compile_options(p)

    p = sub.add_parser("run-local", help="run the whole DAG here on CPU (tiny synthetic defaults)")
    p.lists_parameters = "local"
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets", help=set_help)
    p.add_argument("--output-root", type=Path, default=Path("local_outputs"),
                   help="run folders go here (default local_outputs)")
    p.add_argument(
        "--runner",
        choices=("subprocess", "docker"),
        default="subprocess",
        help="subprocess: tasks in this interpreter; docker: each task in a container of --image, "
        "through the Docker API at DOCKER_HOST (docker, or podman's API service)",
    )
    p.add_argument("--image", help="every task's image, for --runner docker (e.g. localhost/ppocrv3-det:cpu)")

    p = sub.add_parser("upload", help="upload the pipeline, or a new version of it")
    _cluster_options(p)
    p.add_argument("--name", default="ppocrv3-det")
    p.add_argument("--version", help="version name (default: UTC timestamp)")
    _compile_options(p)

    p = sub.add_parser(
        "run", help="upload this pipeline as a new version and start it (or start --version-id)"
    )
    p.lists_parameters = "remote"
    _cluster_options(p)
    p.add_argument("--name", default="ppocrv3-det", help="the pipeline the run belongs to")
    p.add_argument("--version", help="version name when uploading (default: UTC timestamp)")
    p.add_argument("--version-id", help="start this uploaded version instead of uploading one")
    p.add_argument("--experiment", default="ppocrv3-det", help="experiment name (default ppocrv3-det)")
    p.add_argument("--run-name", help="display name of the run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets", help=set_help)
    p.add_argument("--no-cache", action="store_true", help="upload a version with caching off for every task")
    _compile_options(p)

    p = sub.add_parser("fetch-released", help="the released PP-OCRv3 detector (ONNX) from the package index")
    p.add_argument("--out", type=Path, default=None, help="where to write it (default .cache/released/...)")

    p = sub.add_parser("compare", help="table + plot of several runs (local folders or remote run ids)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    _cluster_options(p, host_required=False)
    p.add_argument("--results-uri", default="", help="where remote runs' evaluate step put results")
    p.add_argument("--out", type=Path, default=Path("local_outputs/compare"))
    return parser


def compile_pipeline(args: argparse.Namespace, output: Path) -> Path:
    from kfp import compiler

    from pipelines.pipeline import build_pipeline

    pipeline = build_pipeline(
        image=args.image,
        data_version=args.data_version,
        node_selector=dict(args.node_selector),
        tolerations=args.toleration,
        image_pull_policy=args.image_pull_policy,
        static_gpus=args.static_gpus,
        scratch_storage_class=args.scratch_storage_class,
        artifact_root=args.artifact_root,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(output))
    return output


def cmd_run_local(args: argparse.Namespace) -> None:
    from pipelines.local import run_local
    from pipelines.params import parse_sets
    from pipelines.pipeline import ppocrv3_det

    run = run_local(parse_sets(ppocrv3_det, args.sets), args.output_root, args.runner, args.image)
    print(f"run folder:     {run.run_dir}")
    print(f"metrics:        {run.run_dir / 'evaluate' / 'executor_output.json'}")
    print(f"                {json.dumps(run.metrics, sort_keys=True)}")
    if "start_hmean" in run.metrics:
        start, trained, images = run.metrics["start_hmean"], run.metrics["hmean"], int(run.metrics["images"])
        print(f"hmean:          {start:.4f} (starting weights) -> {trained:.4f} (trained)"
              f", on {images} held-out images")
    print(f"report:         {run.run_dir / 'evaluate' / 'report'}")
    print(f"exported model: {run.serving}  (det-model infer --model-dir {run.serving} --image ...)")


def auth_of(args: argparse.Namespace) -> Auth:
    return Auth(token=args.token, cookies=args.cookies, sa_token_path=args.sa_token_path)


def cmd_remote(args: argparse.Namespace) -> None:
    from pipelines import remote
    from pipelines.params import defaults, parse_sets
    from pipelines.pipeline import build_pipeline
    from pipelines.recipes import check_recipe_argument

    pipeline = build_pipeline(data_version=args.data_version, static_gpus=args.static_gpus)
    arguments = {**defaults(pipeline), **parse_sets(pipeline, getattr(args, "sets", []))}
    check_recipe_argument(arguments)
    problem = remote.results_uri_problem(arguments.get("results_uri", ""), args.namespace)
    if problem:
        raise ValueError(problem)
    client = remote.make_client(args.host, args.namespace, auth_of(args))
    if getattr(args, "version_id", None):
        pipeline_id, version_id = remote.find_pipeline(client, args.name, args.namespace), args.version_id
        if pipeline_id is None:
            raise ValueError(f"no pipeline named {args.name!r} in namespace {args.namespace!r}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            package = compile_pipeline(args, Path(tmp) / "ppocrv3_det.yaml")
            if getattr(args, "no_cache", False):
                remote.disable_caching(package)
            pipeline_id, version_id = remote.upload(client, package, args.name, args.version, args.namespace)
        print(f"pipeline {pipeline_id} version {version_id}")
    if args.command == "upload":
        return
    run_id = remote.start_version(
        client, pipeline_id, version_id, arguments, args.experiment, args.namespace, args.run_name
    )
    print(f"run {run_id} of version {version_id} started in experiment {args.experiment}")


def cmd_compare(args: argparse.Namespace) -> None:
    from pipelines.compare import comparison_plot, comparison_table, load_local_run, load_remote_run

    client, records = None, []
    for run in args.runs:
        if Path(run).is_dir():
            records.append(load_local_run(Path(run)))
            continue
        if not args.host:
            raise SystemExit(f"{run}: not a local run folder, and no --host given for a remote run id")
        if client is None:
            from pipelines.remote import make_client

            client = make_client(args.host, args.namespace, auth_of(args))
        records.append(load_remote_run(client, run, args.results_uri))
    table = comparison_table(records)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.md").write_text(table)
    plot = comparison_plot(records, args.out / "comparison.png")
    print(table)
    print(f"table: {args.out / 'comparison.md'}\nplot:  {plot}")


def cmd_fetch_released(args: argparse.Namespace) -> None:
    from pipelines.released import DEFAULT_PATH, ReleasedModelError, fetch_released

    try:
        print(f"released model: {fetch_released(args.out or DEFAULT_PATH)}")
    except ReleasedModelError as exc:
        raise SystemExit(f"error: {exc}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compile":
            print(f"compiled {compile_pipeline(args, args.output)}")
        elif args.command == "run-local":
            cmd_run_local(args)
        elif args.command in ("upload", "run"):
            cmd_remote(args)
        elif args.command == "compare":
            cmd_compare(args)
        elif args.command == "fetch-released":
            cmd_fetch_released(args)
        else:
            raise ValueError(
                f"unknown command {args.command!r}; "
                "known: compile, run-local, upload, run, compare, fetch-released"
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror}; choose another path", file=sys.stderr)
        return 2
    except Exception as exc:  # an unreachable KFP host is one line; anything else is a bug: re-raised
        from pipelines.remote import connection_problem

        host = getattr(args, "host", None)
        problem = connection_problem(exc, host) if host else None
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0
