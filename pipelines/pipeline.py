"""The PP-OCRv3 detection DAG: fetch -> DML teacher -> extract -> CML student -> evaluate, student -> export.

`build_pipeline()` returns the pipeline function; its keyword arguments are the compile-time choices (image,
pinned data version, node selector, tolerations, secret name). Everything a user tunes per run is a typed
pipeline parameter with a default (cluster-scale values; `pipelines.local` swaps in tiny ones).
"""

from typing import Callable, List, NamedTuple, Optional

from kfp import dsl, kubernetes
from kfp.dsl import Metrics, Model

from components.evaluate import evaluate
from components.export import export
from components.extract_params import extract_params
from components.fetch_hiertext import fetch_hiertext
from components.image import BASE_IMAGE
from components.publish_results import publish_results
from components.stage import CACHE_MOUNT
from components.train_cml_student import train_cml_student
from components.train_dml_teacher import train_dml_teacher
from pipelines.training import Placement, add_training_stage

PIPELINE_NAME = "ppocrv3-det"
MINIO_SECRET = "ppocrv3-object-store"
# Secret key -> env var; identical names so the Secret reads like the env it produces (manifests/overlays).
MINIO_ENV = {
    k: k
    for k in ("MINIO_ENDPOINT", "MINIO_SECURE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
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


def build_pipeline(
    image: str = BASE_IMAGE,
    data_version: Optional[str] = None,
    node_selector: Optional[dict[str, str]] = None,
    tolerations: Optional[list[dict]] = None,
    minio_secret: str = MINIO_SECRET,
    image_pull_policy: str = "IfNotPresent",
    static_gpus: Optional[int] = None,
    multinode: bool = True,
    scratch_storage_class: Optional[str] = None,
    artifact_root: str = ARTIFACT_ROOT,
) -> Callable:
    """The pipeline function for these compile-time choices.

    Args:
        image: container image of every task (overrides components.image.BASE_IMAGE).
        data_version: when set, fetch is cached under this version (and it becomes data_version's default);
            otherwise fetch always re-runs, since the data behind a URI may change.
        node_selector: labels the GPU tasks must run on.
        tolerations: kfp.kubernetes.add_toleration kwargs for the GPU tasks; default tolerates the GPU taint.
        minio_secret: the Secret whose keys MINIO_ENDPOINT, MINIO_SECURE, AWS_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY, AWS_REGION become env vars (never parameters).
        image_pull_policy: the pull policy of every task (explicit, so a moved tag is never a surprise).
        static_gpus: when set, the training GPU limit is this constant (and the `gpus` default); otherwise it
            follows the `gpus` parameter, which only KFP backends >= 2.4 resolve.
        multinode: include the multi-node branch (a launcher task under a KFP condition); kfp.local cannot
            select an artifact from condition branches (dsl.OneOf), so local runs compile without it.
        scratch_storage_class: storage class of the per-pod scratch volumes (None: the cluster default).
        artifact_root: the folder KFP's launcher keeps artifacts in locally (/minio for minio:// pipeline
            roots, /s3 for s3://); the scratch volume is mounted there.
    """
    pinned_version = data_version or ""
    node_selector = dict(node_selector or {})
    if tolerations is None:
        tolerations = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]

    def setup(task: dsl.PipelineTask, kind: str, secret: bool = False) -> dsl.PipelineTask:
        _resources(task, kind)
        if image != BASE_IMAGE:
            task.set_container_image(image)
        kubernetes.set_image_pull_policy(task, image_pull_policy)
        if kind in SCRATCH:
            kubernetes.add_ephemeral_volume(
                task,
                volume_name="artifact-scratch",
                mount_path=artifact_root,
                access_modes=["ReadWriteOnce"],
                size=SCRATCH[kind],
                storage_class_name=scratch_storage_class,
            )
        if secret:
            kubernetes.use_secret_as_env(
                task, secret_name=minio_secret, secret_key_to_env=MINIO_ENV, optional=True
            )
        return task

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
        gpus: int = 1 if static_gpus is None else static_gpus,
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
    ) -> PipelineOutputs:
        """PP-OCRv3 text detection: DML teacher -> CML student distillation -> evaluation and export.

        Args:
            data_uri: the dataset: s3://bucket/key (tar or folder prefix), https://, file:// or synthetic://N.
            data_sha256: expected SHA-256 of the downloaded archive ("" = not checked).
            data_size: expected size in bytes of the downloaded archive (0 = not checked).
            data_version: a name for the data behind data_uri; fetch is cached only when it is pinned at
                compile time (--data-version), since the data behind a URI may change.
            label_level: HierText granularity turned into boxes: line, word or paragraph.
            dml_config: the teacher recipe (PaddleOCR config name or path), trained with DML.
            cml_config: the student recipe (PaddleOCR config name or path), distilled with CML.
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
            teacher_pretrained_uri: weights to start the teacher from (.pdparams URI or prefix; "" = none).
            student_pretrained_uri: weights to start the student from (.pdparams URI or prefix; "" = none).
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
        """
        fetch = fetch_hiertext(
            data_uri=data_uri,
            label_level=label_level,
            data_sha256=data_sha256,
            data_size=data_size,
            data_version=data_version,
        )
        setup(fetch, "fetch", secret=True).set_caching_options(enable_caching=bool(pinned_version))
        placement = Placement(
            setup=setup,
            gpu=lambda task, count: _gpu(task, count, node_selector, tolerations),
            node_selector=node_selector,
            tolerations=tolerations,
            multinode=multinode,
        )
        common = dict(
            image_size=image_size,
            eval_side_len=eval_side_len,
            eval_interval=eval_interval,
            num_workers=num_workers,
            use_amp=use_amp,
            checkpoint_root=checkpoint_root,
            image=image,
            engine=engine,
            publish_all_checkpoints=publish_all_checkpoints,
            gpus=gpus,
            num_nodes=num_nodes,
            checkpoint_pvc=cache_pvc,
            shared_pvc=shared_pvc,
        )
        gpu_limit = gpus if static_gpus is None else static_gpus
        teacher = add_training_stage(
            train_dml_teacher,
            placement,
            gpu_limit=gpu_limit,
            dataset=fetch.outputs["dataset"],
            config_name=dml_config,
            epochs=teacher_epochs,
            batch_size=teacher_batch_size,
            learning_rate=teacher_learning_rate,
            pretrained_uri=teacher_pretrained_uri,
            overrides=dml_overrides,
            **common,
        )
        extract = setup(extract_params(teacher=teacher["model"]), "extract")
        student = add_training_stage(
            train_cml_student,
            placement,
            gpu_limit=gpu_limit,
            dataset=fetch.outputs["dataset"],
            teacher_params=extract.outputs["params"],
            config_name=cml_config,
            epochs=student_epochs,
            batch_size=student_batch_size,
            learning_rate=student_learning_rate,
            pretrained_uri=student_pretrained_uri,
            overrides=cml_overrides,
            **common,
        )
        scores = evaluate(
            dataset=fetch.outputs["dataset"],
            model=student["model"],
            config=student["resolved_config"],
            overrides=eval_overrides,
        )
        _gpu(setup(scores, "evaluate"), 1, node_selector, tolerations)
        with dsl.If(results_uri != "", name="publish-results"):
            published = publish_results(
                metrics=scores.outputs["metrics"],
                student=student["model"],
                results_uri=results_uri,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
            setup(published, "publish", secret=True).set_caching_options(enable_caching=False)
        shipped = export(
            model=student["model"],
            config=student["resolved_config"],
            overrides=export_overrides,
        )
        _gpu(setup(shipped, "export"), 1, node_selector, tolerations)
        return PipelineOutputs(metrics=scores.outputs["metrics"], exported=shipped.outputs["exported"])

    return ppocrv3_det


ppocrv3_det = build_pipeline()
