"""The PP-OCRv3 detection DAG: fetch -> DML teacher -> extract -> CML student -> evaluate, student -> export.

`build_pipeline()` returns the pipeline function; its keyword arguments are the compile-time choices (image,
pinned data version, node selector, tolerations, secret name). Everything a user tunes per run is a typed
pipeline parameter with a default (cluster-scale values; `pipelines.local` swaps in tiny ones).
"""

from dataclasses import dataclass
from typing import Callable, List, NamedTuple, Optional

from kfp import dsl, kubernetes
from kfp.dsl import Metrics, Model

from components.evaluate import evaluate
from components.export import export
from components.extract_params import extract_params
from components.fetch_hiertext import fetch_hiertext
from components.image import BASE_IMAGE
from components.settings import CACHE_MOUNT
from components.train_cml_student import train_cml_student
from components.train_dml_teacher import train_dml_teacher

PIPELINE_NAME = "ppocrv3-det"
MINIO_SECRET = "ppocrv3-minio"
# Secret key -> env var; identical names so the Secret reads like the env it produces (manifests/base).
MINIO_ENV = {k: k for k in ("MINIO_ENDPOINT", "MINIO_SECURE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
GPU_RESOURCE = "nvidia.com/gpu"
SHM_SIZE = "16Gi"
RETRY = dict(num_retries=2, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="3600s")
# (cpu request, memory request, memory limit) per task kind.
RESOURCES = {
    "fetch": ("2", "8Gi", "16Gi"),
    "train": ("8", "32Gi", "64Gi"),
    "extract": ("1", "4Gi", "8Gi"),
    "evaluate": ("4", "16Gi", "32Gi"),
    "export": ("4", "16Gi", "32Gi"),
}
TASK_NAMES = (
    "fetch-hiertext",
    "train-dml-teacher",
    "extract-params",
    "train-cml-student",
    "evaluate",
    "export",
)


class PipelineOutputs(NamedTuple):
    metrics: Metrics
    exported: Model


def _resources(task: dsl.PipelineTask, kind: str) -> dsl.PipelineTask:
    cpu, memory, memory_limit = RESOURCES[kind]
    return task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory_limit)


def _gpu(task: dsl.PipelineTask, count, node_selector: dict[str, str], tolerations: list[dict]) -> None:
    """GPU limit, /dev/shm in RAM (Paddle DataLoader workers), scheduling constraints."""
    task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(count)
    kubernetes.empty_dir_mount(
        task, volume_name="dshm", mount_path="/dev/shm", medium="Memory", size_limit=SHM_SIZE
    )
    for key, value in node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for toleration in tolerations:
        kubernetes.add_toleration(task, **toleration)


@dataclass(frozen=True)
class CompileChoices:
    """What `build_pipeline` fixes at compile time, applied to every task by `setup`."""

    image: str
    pinned_version: str
    node_selector: dict[str, str]
    tolerations: list[dict]
    minio_secret: str

    def setup(self, task: dsl.PipelineTask, kind: str, secret: bool = False) -> dsl.PipelineTask:
        _resources(task, kind)
        if self.image != BASE_IMAGE:
            task.set_container_image(self.image)
        if secret:
            kubernetes.use_secret_as_env(
                task, secret_name=self.minio_secret, secret_key_to_env=MINIO_ENV, optional=True
            )
        return task

    def gpu(self, task: dsl.PipelineTask, count) -> None:
        _gpu(task, count, self.node_selector, self.tolerations)


def _pick(p: dict, *names: str) -> dict:
    return {name: p[name] for name in names}


def _stage_args(p: dict, config: str, prefix: str, overrides: str) -> dict:
    """A training stage's own parameters (`<prefix>_epochs`, `<prefix>_batch_size`, ...) by component name."""
    return dict(
        config_name=p[config],
        epochs=p[f"{prefix}_epochs"],
        batch_size=p[f"{prefix}_batch_size"],
        learning_rate=p[f"{prefix}_learning_rate"],
        pretrained_uri=p[f"{prefix}_pretrained_uri"],
        overrides=p[overrides],
    )


def _train_tasks(p: dict, c: CompileChoices, dataset) -> dsl.PipelineTask:
    """DML teacher -> extract -> CML student on `dataset`; returns the student task (`p`: parameters)."""
    shared = ("image_size", "eval_side_len", "eval_interval", "num_workers", "gpus", "use_amp", "num_nodes")
    common = _pick(p, *shared, "checkpoint_root", "cache_pvc")
    common.update(run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, image=c.image)
    teacher = train_dml_teacher(
        dataset=dataset, **_stage_args(p, "dml_config", "teacher", "dml_overrides"), **common
    )
    extract = c.setup(extract_params(teacher=teacher.outputs["model"]), "extract")
    student = train_cml_student(
        dataset=dataset,
        teacher_params=extract.outputs["params"],
        **_stage_args(p, "cml_config", "student", "cml_overrides"),
        **common,
    )
    for train in (teacher, student):
        c.setup(train, "train", secret=True).set_retry(**RETRY)
        c.gpu(train, p["gpus"])
        kubernetes.mount_pvc(train, pvc_name=p["cache_pvc"], mount_path=CACHE_MOUNT)
    return student


def _wire(p: dict, c: CompileChoices) -> PipelineOutputs:
    """The whole DAG for pipeline parameters `p` (by name)."""
    fetch = fetch_hiertext(**_pick(p, "data_uri", "label_level", "data_sha256", "data_size", "data_version"))
    c.setup(fetch, "fetch", secret=True).set_caching_options(enable_caching=bool(c.pinned_version))
    student = _train_tasks(p, c, fetch.outputs["dataset"])
    scores = evaluate(
        dataset=fetch.outputs["dataset"],
        model=student.outputs["model"],
        config=student.outputs["resolved_config"],
        overrides=p["eval_overrides"],
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        results_uri=p["results_uri"],
    )
    c.gpu(c.setup(scores, "evaluate", secret=True), 1)
    shipped = export(
        model=student.outputs["model"],
        config=student.outputs["resolved_config"],
        overrides=p["export_overrides"],
    )
    c.gpu(c.setup(shipped, "export"), 1)
    return PipelineOutputs(metrics=scores.outputs["metrics"], exported=shipped.outputs["exported"])


def build_pipeline(
    image: str = BASE_IMAGE,
    data_version: Optional[str] = None,
    node_selector: Optional[dict[str, str]] = None,
    tolerations: Optional[list[dict]] = None,
    minio_secret: str = MINIO_SECRET,
) -> Callable:
    """The pipeline function for these compile-time choices.

    Args:
        image: container image of every task (overrides components.image.BASE_IMAGE).
        data_version: when set, fetch is cached under this version (and it becomes data_version's default);
            otherwise fetch always re-runs, since the data behind a URI may change.
        node_selector: labels the GPU tasks must run on.
        tolerations: kfp.kubernetes.add_toleration kwargs for the GPU tasks; default tolerates the GPU taint.
        minio_secret: the Secret whose keys MINIO_ENDPOINT, MINIO_SECURE, AWS_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY become env vars (never parameters).
    """
    if tolerations is None:
        tolerations = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    choices = CompileChoices(image, data_version or "", dict(node_selector or {}), tolerations, minio_secret)
    pinned_version = choices.pinned_version

    @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
    def ppocrv3_det(
        data_uri: str = "s3://ocr-datasets/hiertext/hiertext.tar",
        data_sha256: str = "",
        data_size: int = 0,
        data_version: str = pinned_version,
        label_level: str = "line",
        dml_config: str = "ch_PP-OCRv3_det_dml.yml",
        cml_config: str = "ch_PP-OCRv3_det_cml.yml",
        teacher_epochs: int = 1200,
        student_epochs: int = 500,
        teacher_batch_size: int = 8,
        student_batch_size: int = 8,
        teacher_learning_rate: float = 0.001,
        student_learning_rate: float = 0.001,
        image_size: int = 960,
        eval_side_len: int = 736,
        eval_interval: int = 400,
        num_workers: int = 4,
        gpus: int = 1,
        num_nodes: int = 1,
        use_amp: bool = False,
        teacher_pretrained_uri: str = "",
        student_pretrained_uri: str = "",
        dml_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        cml_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        eval_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        export_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        checkpoint_root: str = f"{CACHE_MOUNT}/checkpoints",
        cache_pvc: str = "ppocrv3-cache",
        results_uri: str = "",
    ) -> PipelineOutputs:
        return _wire(dict(locals()), choices)

    return ppocrv3_det


ppocrv3_det = build_pipeline()
