"""Multi-node training for real: the launcher's TrainJob run as two node containers of our Paddle runtime.

`run_training_multinode` (what a training task does with num_nodes=2) stages a tiny dataset and the resolved
student config on the shared volume and creates its TrainJob; support.container_trainer plays the cluster:
the node pods Trainer and JobSet would make of manifests/runtime/paddle-distributed.yaml and that TrainJob
(command and env from the runtime, image, args and node count from the TrainJob) run as two containers of the
image on one user network. Node 0 hosts the rendezvous on its own address; node 1 finds it by JobSet's pod DNS
name `<job>-node-0-0.<job>`, resolved by the engine's DNS. A host folder mounted into both at the same path
stands in for the ReadWriteMany PVC. The launcher follows the job and echoes the nodes' logs as in a KFP step.

Run with `make test-containers` (marker `containers`; builds the image first).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from support.container_trainer import ContainerCluster
from support.node_pods import load_runtime
from support.training_fixtures import IMAGE_SIZE, write_tiny_dataset

from components import launcher, training
from components.settings import TrainSettings
from det_model.data.fetch.layout import EVAL_LABEL, TRAIN_LABEL
from det_model.training.history import METRICS_LOG, read_history

pytestmark = pytest.mark.containers
PVC, JOB = "ppocrv3-shared", "ppocrv3-student-0123abcd"
IMAGES, BATCH, NODES, EPOCHS = 8, 2, 2, 2
SHARE = re.compile(r"rank (\d) of 2 trains on (\d+) of (\d+) samples an epoch; epoch 1 starts with (.+)")


@pytest.fixture
def cluster(docker_host: str, tmp_path: Path) -> Iterator[ContainerCluster]:
    """The stand-in cluster with `tmp_path/shared` as the PVC; its containers and network go afterwards."""
    import docker

    engine = docker.DockerClient(base_url=docker_host)
    shared = tmp_path / "shared"
    shared.mkdir()
    stand_in = ContainerCluster(engine, load_runtime(), {PVC: shared}, prefix=f"pytest-{os.getpid()}")
    try:
        yield stand_in
    finally:
        stand_in.close()
        engine.close()


def tiny_settings(tmp_path: Path) -> TrainSettings:
    """The student recipe on 8 tiny images, batch 2 per node, 2 epochs: 2 steps an epoch on 2 nodes."""
    dataset = tmp_path / "dataset"
    label = write_tiny_dataset(dataset, IMAGES, seed=0)
    for name in (TRAIN_LABEL, EVAL_LABEL):
        shutil.copyfile(label, dataset / name)
    return TrainSettings(
        config_name="ch_PP-OCRv3_det_student.yml", dataset_dir=str(dataset), epochs=EPOCHS, batch_size=BATCH,
        learning_rate=0.001, image_size=IMAGE_SIZE, eval_side_len=IMAGE_SIZE, eval_interval=2, num_workers=0,
        gpus=0, use_amp=False, overrides=("Global.print_batch_step=1",),
    )  # fmt: skip


def test_two_node_trainjob_trains_the_student_data_parallel(
    image: str, cluster: ContainerCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    shared = cluster.claims[PVC]
    monkeypatch.setattr(training, "CACHE_MOUNT", str(shared))  # the PVC's mount path, here and in the nodes
    monkeypatch.setattr(launcher, "default_apis", lambda: (cluster, cluster))
    monkeypatch.setattr(launcher, "Follower", functools.partial(launcher.Follower, poll_s=2))
    save_dir = shared / f"student-{JOB}"
    summary = training.run_training_multinode(
        tiny_settings(tmp_path), save_dir, tmp_path / "resolved.yml", job=JOB, image=image, num_nodes=NODES,
        pvc_name=PVC,
    )  # fmt: skip
    step_log = capsys.readouterr().out
    node0, node1 = (cluster.logs(pod.hostname) for pod in cluster.pods)
    assert cluster.exit_codes() == {f"{JOB}-node-0-0": 0, f"{JOB}-node-0-1": 0}

    # the rendezvous: node 0 on its own address, node 1 through the DNS name, one world of 2
    master = f"{JOB}-node-0-0.{JOB}:36543"
    assert re.search(rf"paddle node 0/2, master {re.escape(cluster.pods[0].env['POD_IP'])}:36543", node0)
    assert f"paddle node 1/2, master {master}" in node1
    assert "world size 2, rank 0" in node0 and "world size 2, rank 1" in node1

    # one set of checkpoints, written by rank 0 alone, on the shared volume
    written = sorted(p.name for p in save_dir.iterdir())
    assert {"best_accuracy.pdparams", "latest.pdparams", "latest.states", METRICS_LOG} <= set(written)
    assert not [name for name in written if "rank" in name or re.search(r"\.\d+$", name)], written

    # the data split over the nodes: 2 epochs x 8 images / (2 nodes x batch 2) = 4 steps (one node: 8)
    steps = [r["global_step"] for r in read_history(save_dir / METRICS_LOG) if r["type"] == "train"]
    assert max(steps) == EPOCHS * IMAGES // (NODES * BATCH) == summary["steps"]
    assert summary["epochs"] == EPOCHS and 0.0 <= summary["hmean"] <= 1.0

    # both nodes saw different batches: each names its half of the epoch and its own first batch
    shares = [SHARE.search(log) for log in (node0, node1)]
    assert all(shares), (node0[-3000:], node1[-3000:])
    assert [(s[1], s[2], s[3]) for s in shares] == [("0", "4", "8"), ("1", "4", "8")]
    first0, first1 = (set(s[4].split(", ")) for s in shares)
    assert len(first0) == len(first1) == BATCH and not first0 & first1

    # the launcher followed the job and echoed both nodes' logs into the step log
    assert f"[{JOB}-node-0-1] paddle node 1/2, master {master}" in step_log
    assert "TrainJob kubeflow/" + JOB + ": Succeeded" in step_log
