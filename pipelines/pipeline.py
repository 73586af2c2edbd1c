"""The PP-OCRv3 detection DAG: fetch -> the `recipe`'s training branch -> evaluate, student -> export.

The recipes (pipelines.recipes): full = DML teacher -> extract -> CML student; dml-finetune = the same from a
teacher's weights; cml-finetune = CML from a distillation checkpoint; student-finetune = the student alone.

`build_pipeline()` returns the pipeline function; its keyword arguments are the compile-time choices (image,
pinned data version, node selector, tolerations, secret name). Everything a user tunes per run is a typed
pipeline parameter with a default (cluster-scale values; `pipelines.local` swaps in tiny ones).
"""

from dataclasses import dataclass, field, replace
from typing import Any, Callable, List, Mapping, NamedTuple, Optional

from kfp import dsl, kubernetes
from kfp.dsl import Metrics, Model

from components.deploy_kserve import deploy_kserve
from components.evaluate import evaluate
from components.export import export
from components.extract_params import extract_params
from components.fetch_hiertext import fetch_hiertext
from components.image import BASE_IMAGE
from components.publish_results import publish_results
from components.settings import CACHE_MOUNT
from components.train_cml_student import train_cml_student
from components.train_dml_teacher import train_dml_teacher
from pipelines.recipes import DEFAULT_RECIPE, STUDENT_CONFIG, RecipeInputs, TrainedStudent, train_by_recipe
from pipelines.training import Placement, add_training_stage_group, stage_pipelines

PIPELINE_NAME = "ppocrv3-det"
MINIO_SECRET = "ppocrv3-object-store"
# Secret key -> env var; identical names so the Secret reads like the env it produces (manifests/overlays).
MINIO_ENV = {
    k: k for k in ("MINIO_ENDPOINT", "MINIO_SECURE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
}
GPU_RESOURCE = "nvidia.com/gpu"
SHM_SIZE = "16Gi"
# (cpu request, memory request, memory limit) per task kind.
RESOURCES = {
    "fetch": ("2", "8Gi", "16Gi"),
    "train": ("8", "32Gi", "64Gi"),
    "launcher": ("500m", "1Gi", "2Gi"),  # multi-node: the node pods hold the GPUs, not the launcher
    "publish": ("100m", "256Mi", "512Mi"),
    "extract": ("1", "4Gi", "8Gi"),
    "evaluate": ("4", "16Gi", "32Gi"),
    "export": ("4", "16Gi", "32Gi"),
}
# Tasks that download data get a sized scratch volume over KFP's local artifact folder: KFP 2.17 has no
# ephemeral-storage request setter, and the launcher otherwise downloads into the node's unbounded disk.
SCRATCH = {"fetch": "200Gi", "train": "200Gi", "launcher": "200Gi", "evaluate": "100Gi"}
ARTIFACT_ROOT = "/minio"  # where KFP's launcher keeps minio:// (SeaweedFS) artifacts locally; /s3 for s3://
DEFAULT_TOLERATIONS = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
TASK_NAMES = (
    "fetch-hiertext",
    "train-dml-teacher",
    "extract-params",
    "train-cml-student",
    "evaluate",
    "export",
)


PIPELINE_DOC = """PP-OCRv3 text detection: the recipe's training (DML teacher, CML student) -> evaluation and export.

Args:
    data_uri: the dataset: s3://bucket/key (tar or folder prefix), https://, file:// or synthetic://N.
    data_sha256: expected SHA-256 of the downloaded archive ("" = not checked).
    data_size: expected size in bytes of the downloaded archive (0 = not checked).
    data_version: a name for the data behind data_uri; fetch is cached only when it is pinned at
        compile time (--data-version), since the data behind a URI may change.
    label_level: HierText granularity turned into boxes: line, word or paragraph.
    recipe: full (DML teacher -> CML student), dml-finetune (the same from teacher_pretrained_uri),
        cml-finetune (CML from a distillation checkpoint) or student-finetune (the student alone).
    dml_config: the teacher recipe (PaddleOCR config name or path), trained with DML.
    cml_config: the student recipe (PaddleOCR config name or path), distilled with CML.
    student_config: the plain student's config (recipe student-finetune).
    teacher_epochs: Global.epoch_num of the teacher.
    student_epochs: Global.epoch_num of the student.
    teacher_batch_size: Train.loader.batch_size_per_card of the teacher (per GPU).
    student_batch_size: Train.loader.batch_size_per_card of the student (per GPU).
    teacher_learning_rate: Optimizer.lr.learning_rate of the teacher.
    student_learning_rate: Optimizer.lr.learning_rate of the student.
    image_size: training crop side in px (EastRandomCropData.size).
    eval_side_len: evaluation resize limit in px (DetResizeForTest.limit_side_len).
    eval_interval: evaluate every this many training steps (Global.eval_batch_step).
    num_workers: DataLoader worker processes per GPU.
    gpus: GPUs per training pod (or per node when num_nodes > 1); 0 trains on CPU.
    num_nodes: 1 trains in the pipeline's own pod; > 1 runs a distributed job over that many nodes.
    use_amp: mixed-precision training (Global.use_amp).
    teacher_pretrained_uri: weights to start the teacher from (.pdparams, prefix, folder or tar; "" = none).
    student_pretrained_uri: the students' starting weights (also evaluated as the baseline; "" = none).
    dml_overrides: extra -o Section.key=value overrides of the teacher recipe.
    cml_overrides: extra -o Section.key=value overrides of the student recipe.
    eval_overrides: extra -o overrides for evaluation.
    export_overrides: extra -o overrides for export.
    checkpoint_root: where training keeps resumable checkpoints, in content-keyed folders (on the
        checkpoint PVC); "" = only in the Model artifact, so a retried pod starts over.
    cache_pvc: the ReadWriteOnce PVC holding checkpoint_root in single-node training (manifests/base).
    shared_pvc: the ReadWriteMany PVC the launcher and node pods share when num_nodes > 1.
    engine: the multi-node job: trainjob (Kubeflow Trainer v2, our Paddle runtime) or paddlejob
        (Training Operator v1.9).
    publish_all_checkpoints: put every checkpoint and optimizer state into the Model artifacts, not
        only best_accuracy, latest, the resolved config and the history.
    results_uri: where evaluate also writes metrics.json for `python -m pipelines compare`
        (multi-user KFP: below s3://mlpipeline/private-artifacts/<namespace>/); "" = nowhere.
    deploy_to_kserve: after export, create or update a KServe InferenceService serving the model.
    kserve_service: the InferenceService's name (deploy_to_kserve).
"""


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
    """What `build_pipeline` fixes at compile time, applied to every task by `setup`.

    image: container image of every task (overrides components.image.BASE_IMAGE).
    pinned_version: data version that caches fetch ("" = fetch always re-runs: the data behind a URI may change).
    node_selector, tolerations: scheduling of the GPU tasks and of the multi-node workers.
    minio_secret: the Secret whose MINIO_ENV keys become env vars (never parameters).
    image_pull_policy: every task's pull policy (explicit, so a moved tag is never a surprise).
    static_gpus: a constant training GPU limit (and `gpus` default) for KFP backends < 2.4, which cannot
        resolve a count from a parameter; None = follow the `gpus` parameter.
    multinode: include the multi-node branch (a launcher under a KFP condition); kfp.local cannot select an
        artifact from condition branches (dsl.OneOf), so local runs compile without it.
    scratch_storage_class, artifact_root: class and mount point (/minio for minio:// pipeline roots, /s3 for
        s3://) of the per-pod scratch volume of downloading tasks.
    """

    image: str = BASE_IMAGE
    pinned_version: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict] = field(default_factory=lambda: list(DEFAULT_TOLERATIONS))
    minio_secret: str = MINIO_SECRET
    image_pull_policy: str = "IfNotPresent"
    static_gpus: Optional[int] = None
    multinode: bool = True
    scratch_storage_class: Optional[str] = None
    artifact_root: str = ARTIFACT_ROOT

    def setup(self, task: dsl.PipelineTask, kind: str, secret: bool = False) -> dsl.PipelineTask:
        _resources(task, kind)
        if self.image != BASE_IMAGE:
            task.set_container_image(self.image)
        kubernetes.set_image_pull_policy(task, self.image_pull_policy)
        if kind in SCRATCH:
            kubernetes.add_ephemeral_volume(
                task,
                volume_name="artifact-scratch",
                mount_path=self.artifact_root,
                access_modes=["ReadWriteOnce"],
                size=SCRATCH[kind],
                storage_class_name=self.scratch_storage_class,
            )
        if secret:
            kubernetes.use_secret_as_env(
                task, secret_name=self.minio_secret, secret_key_to_env=MINIO_ENV, optional=True
            )
        return task

    def gpu(self, task: dsl.PipelineTask, count) -> None:
        _gpu(task, count, self.node_selector, self.tolerations)

    def placement(self) -> Placement:
        """The training tasks' placement; with multinode, each stage's pipeline component (built here, outside
        any pipeline function, as KFP requires)."""
        placement = Placement(self.setup, self.gpu, self.node_selector, self.tolerations, self.multinode)
        if not self.multinode:
            return placement
        stages = stage_pipelines((train_dml_teacher, train_cml_student), placement, self.static_gpus)
        return replace(placement, stages=stages)


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


def _train_tasks(p: dict, c: CompileChoices, placement: Placement, dataset) -> TrainedStudent:
    """The `recipe`'s training branch on `dataset` (pipelines.recipes); `p`: parameters by name. Each
    training stage is one GPU task, or a launcher for num_nodes > 1 (pipelines.training)."""
    shared = ("image_size", "eval_side_len", "eval_interval", "num_workers", "gpus", "use_amp", "num_nodes")
    common = _pick(p, *shared, "checkpoint_root", "shared_pvc", "engine", "publish_all_checkpoints")
    common.update(image=c.image, checkpoint_pvc=p["cache_pvc"])
    common.update(gpu_limit=p["gpus"] if c.static_gpus is None else c.static_gpus)

    def teacher(pretrained_uri, recipe: str) -> Mapping[str, Any]:
        args = _stage_args(p, "dml_config", "teacher", "dml_overrides") | {"pretrained_uri": pretrained_uri}
        return add_training_stage_group(
            train_dml_teacher, placement, dataset=dataset, recipe=recipe, **args, **common
        )

    def extract(dml: Mapping[str, Any]) -> dsl.PipelineTask:
        task = c.setup(extract_params(teacher=dml["model"]), "extract")
        return task.set_display_name("extract-params")

    def student(config_name, recipe, teacher_params, teacher_uri) -> Mapping[str, Any]:
        args = _stage_args(p, "cml_config", "student", "cml_overrides") | {"config_name": config_name}
        args |= {} if teacher_params is None else {"teacher_params": teacher_params}
        return add_training_stage_group(
            train_cml_student,
            placement,
            dataset=dataset,
            recipe=recipe,
            teacher_pretrained_uri=teacher_uri,
            **args,
            **common,
        )

    inputs = RecipeInputs(p["recipe"], p["cml_config"], p["student_config"], p["teacher_pretrained_uri"])
    return train_by_recipe(inputs, teacher, extract, student)


def _wire(p: dict, c: CompileChoices, placement: Placement) -> PipelineOutputs:
    """The whole DAG for pipeline parameters `p` (by name)."""
    fetch = fetch_hiertext(**_pick(p, "data_uri", "label_level", "data_sha256", "data_size", "data_version"))
    c.setup(fetch, "fetch", secret=True).set_caching_options(enable_caching=bool(c.pinned_version))
    trained = _train_tasks(p, c, placement, fetch.outputs["dataset"])
    scores = evaluate(
        dataset=fetch.outputs["dataset"],
        model=trained.model,
        config=trained.config,
        overrides=p["eval_overrides"],
        baseline_uri=p["student_pretrained_uri"],
    )
    c.gpu(c.setup(scores, "evaluate", secret=True), 1)  # it fetches the starting weights (s3:// too)
    with dsl.If(p["results_uri"] != "", name="publish-results"):
        published = publish_results(
            metrics=scores.outputs["metrics"],
            student=trained.model,
            results_uri=p["results_uri"],
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
        c.setup(published, "publish", secret=True).set_caching_options(enable_caching=False)
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
    **choices,
) -> Callable:
    """The pipeline function for these compile-time choices (CompileChoices: `data_version` is its
    pinned_version; tolerations default to the GPU taint; other keywords are its fields)."""
    return _pipeline_function(
        CompileChoices(
            image=image,
            pinned_version=data_version or "",
            node_selector=dict(node_selector or {}),
            tolerations=list(DEFAULT_TOLERATIONS if tolerations is None else tolerations),
            **choices,
        )
    )


def _pipeline_function(choices: CompileChoices) -> Callable:
    pinned_version = choices.pinned_version
    default_gpus = 1 if choices.static_gpus is None else choices.static_gpus
    placement = choices.placement()

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
        gpus: int = default_gpus,
        num_nodes: int = 1,
        use_amp: bool = False,
        teacher_pretrained_uri: str = "",
        student_pretrained_uri: str = "",
        dml_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        cml_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        eval_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        export_overrides: List[str] = [],  # noqa: B006 (KFP reads the default; never mutated)
        checkpoint_root: str = f"{CACHE_MOUNT}/checkpoints",
        cache_pvc: str = "ppocrv3-checkpoints",
        shared_pvc: str = "ppocrv3-shared",
        engine: str = "trainjob",
        publish_all_checkpoints: bool = False,
        results_uri: str = "",
        deploy_to_kserve: bool = False,
        kserve_service: str = "ppocrv3-det",
    ) -> PipelineOutputs:
        return _wire(dict(locals()), choices, placement)

    ppocrv3_det.__doc__ = PIPELINE_DOC  # its Args become the parameter descriptions in the compiled spec
    return dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])(ppocrv3_det)


ppocrv3_det = build_pipeline()
