"""The PP-OCRv3 detection DAG: fetch -> the `recipe`'s training branch -> evaluate, student -> export.

The recipes (pipelines.recipes): full = DML teacher -> extract -> CML student; dml-finetune = the same from a
teacher's weights; cml-finetune = CML from a distillation checkpoint; student-finetune = the student alone.

`build_pipeline()` returns the pipeline function; its keyword arguments are the compile-time choices (image,
pinned data version, node selector, tolerations, secret name). Everything a user tunes per run is a typed
pipeline parameter with a default (cluster-scale values; `pipelines.local` swaps in tiny ones).
"""

from dataclasses import dataclass
from typing import Callable, List, NamedTuple, Optional

from kfp import dsl, kubernetes
from kfp.dsl import Metrics, Model

from components.deploy_kserve import deploy_kserve
from components.evaluate import evaluate
from components.export import export
from components.extract_params import extract_params
from components.fetch_hiertext import fetch_hiertext
from components.image import BASE_IMAGE
from components.settings import CACHE_MOUNT
from components.train_cml_student import train_cml_student
from components.train_dml_teacher import train_dml_teacher
from pipelines.recipes import DEFAULT_RECIPE, STUDENT_CONFIG, RecipeInputs, TrainedStudent, train_by_recipe

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


def _train_tasks(p: dict, c: CompileChoices, dataset) -> TrainedStudent:
    """The `recipe`'s training branch on `dataset` (pipelines.recipes); `p`: parameters by name."""
    shared = ("image_size", "eval_side_len", "eval_interval", "num_workers", "gpus", "use_amp", "num_nodes")
    common = _pick(p, *shared, "checkpoint_root", "cache_pvc")
    common.update(run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, image=c.image)

    def setup_train(train: dsl.PipelineTask) -> dsl.PipelineTask:
        # KFP numbers a component's tasks across the recipe branches; the UI shows the component's name.
        train.set_display_name(train.component_spec.name)
        c.setup(train, "train", secret=True).set_retry(**RETRY)
        c.gpu(train, p["gpus"])
        kubernetes.mount_pvc(train, pvc_name=p["cache_pvc"], mount_path=CACHE_MOUNT)
        return train

    def teacher(pretrained_uri, recipe: str) -> dsl.PipelineTask:
        args = _stage_args(p, "dml_config", "teacher", "dml_overrides") | {"pretrained_uri": pretrained_uri}
        return setup_train(train_dml_teacher(dataset=dataset, recipe=recipe, **args, **common))

    def extract(dml: dsl.PipelineTask) -> dsl.PipelineTask:
        task = c.setup(extract_params(teacher=dml.outputs["model"]), "extract")
        return task.set_display_name("extract-params")

    def student(config_name, recipe, teacher_params, teacher_uri) -> dsl.PipelineTask:
        args = _stage_args(p, "cml_config", "student", "cml_overrides") | {"config_name": config_name}
        args |= {} if teacher_params is None else {"teacher_params": teacher_params}
        task = train_cml_student(
            dataset=dataset, recipe=recipe, teacher_pretrained_uri=teacher_uri, **args, **common
        )
        return setup_train(task)

    inputs = RecipeInputs(p["recipe"], p["cml_config"], p["student_config"], p["teacher_pretrained_uri"])
    return train_by_recipe(inputs, teacher, extract, student)


def _wire(p: dict, c: CompileChoices) -> PipelineOutputs:
    """The whole DAG for pipeline parameters `p` (by name)."""
    fetch = fetch_hiertext(**_pick(p, "data_uri", "label_level", "data_sha256", "data_size", "data_version"))
    c.setup(fetch, "fetch", secret=True).set_caching_options(enable_caching=bool(c.pinned_version))
    trained = _train_tasks(p, c, fetch.outputs["dataset"])
    scores = evaluate(
        dataset=fetch.outputs["dataset"],
        model=trained.model,
        config=trained.config,
        overrides=p["eval_overrides"],
        baseline_uri=p["student_pretrained_uri"],
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        results_uri=p["results_uri"],
    )
    c.gpu(c.setup(scores, "evaluate", secret=True), 1)
    shipped = export(
        dataset=fetch.outputs["dataset"],
        model=trained.model,
        config=trained.config,
        overrides=p["export_overrides"],
    )
    c.gpu(c.setup(shipped, "export"), 1)
    with dsl.If(p["deploy_to_kserve"] == True):  # noqa: E712 (a KFP condition, not a Python comparison)
        served = deploy_kserve(exported=shipped.outputs["exported"], name=p["kserve_service"], image=c.image)
        c.setup(served, "extract").set_caching_options(enable_caching=False)  # re-deploy on every run
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
        minio_secret: the Secret whose MINIO_* / AWS_* keys become env vars (never parameters).
    """
    if tolerations is None:
        tolerations = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    choices = CompileChoices(image, data_version or "", dict(node_selector or {}), tolerations, minio_secret)

    @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
    def ppocrv3_det(
        data_uri: str = "s3://ocr-datasets/hiertext/hiertext.tar",
        data_sha256: str = "",
        data_size: int = 0,
        data_version: str = choices.pinned_version,
        label_level: str = "line",
        recipe: str = DEFAULT_RECIPE,
        dml_config: str = "ch_PP-OCRv3_det_dml.yml",
        cml_config: str = "ch_PP-OCRv3_det_cml.yml",
        student_config: str = STUDENT_CONFIG,
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
        deploy_to_kserve: bool = False,
        kserve_service: str = "ppocrv3-det",
    ) -> PipelineOutputs:
        return _wire(dict(locals()), choices)

    return ppocrv3_det


ppocrv3_det = build_pipeline()
