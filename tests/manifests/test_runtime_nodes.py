"""The node pods of our ClusterTrainingRuntime: rendered as Trainer makes them of a launcher's TrainJob, and
their command run for real as two nodes on this machine.

support.node_pods renders the runtime (manifests/runtime/paddle-distributed.yaml) with a TrainJob body of
components/trainjob.py: the exact shell command, with the env a node pod gets (rank from the completion
index, the pod's IP, the master host name, node count and processes per node from the TrainJob). Run twice
here, node 0 must host the rendezvous on its own address and node 1 must reach it by a host name (in the
cluster JobSet's pod DNS name; here `localhost`). A collective all-reduce over both nodes (gloo, CPU) proves
they formed one job.
The same pods run as containers on one network, finding each other by the DNS name, in
tests/containers/test_multinode_containers.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest
from support.node_pods import NodePod, load_runtime, render_node_pods, runtime_node_container
from support.servers import free_port

from components.distributed import NodeSpec
from components.trainjob import build_trainjob

JOB, PVC = "ppocrv3-student-0123abcd", "ppocrv3-shared"
PROGRAM = """
import json, os, sys
import paddle
import paddle.distributed as dist
dist.init_parallel_env()
rank = dist.get_rank()
total = paddle.to_tensor([float(rank + 1)])
dist.all_reduce(total)
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
    json.dump({"world": dist.get_world_size(), "sum": float(total.numpy()[0])}, f)
"""


def trainjob(args: Sequence[str], mount_path: str = "/cache", gpus_per_node: int = 0) -> dict:
    spec = NodeSpec(image="registry.example.com/ocr/ppocrv3-det:cpu", args=list(args), num_nodes=2,
                    gpus_per_node=gpus_per_node, shared_pvc=PVC, mount_path=mount_path)
    return build_trainjob(JOB, "ppocrv3", spec)


def test_node_pods_get_what_trainer_and_jobset_give_them() -> None:
    args = ["det-model", "train", "-c", "/cache/student-k/config.resolved.yml"]
    pods = render_node_pods(trainjob(args, gpus_per_node=4), load_runtime(), ["10.0.0.5", "10.0.0.6"])
    assert [p.hostname for p in pods] == [f"{JOB}-node-0-0", f"{JOB}-node-0-1"]
    for rank, pod in enumerate(pods):
        assert pod.env["PADDLE_RANK"] == str(rank) and pod.env["POD_IP"] == f"10.0.0.{5 + rank}"
        assert pod.env["JOBSET_NAME"] == JOB
        assert pod.env["PADDLE_MASTER_HOST"] == pods[0].dns_name == f"{JOB}-node-0-0.{JOB}"
        assert (pod.env["PADDLE_NNODES"], pod.env["PADDLE_NPROC_PER_NODE"]) == ("2", "4")  # from the TrainJob
        assert pod.args == tuple(args) and pod.command[:2] == ("sh", "-c")
        assert pod.claims == {PVC: "/cache"} and pod.shm_size == "16Gi"


@pytest.mark.parametrize("field", ["spec.nodeName", "metadata.labels['jobset.sigs.k8s.io/job-index']"])
def test_rendering_refuses_a_runtime_field_it_does_not_give(field: str) -> None:
    runtime = copy.deepcopy(load_runtime())
    extra = {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": field}}}
    runtime_node_container(runtime)["env"].append(extra)
    with pytest.raises(ValueError, match=re.escape(field)):
        render_node_pods(trainjob(["true"]), runtime, ["10.0.0.5", "10.0.0.6"])


def local_pods(args: Sequence[str]) -> list[NodePod]:
    """The two node pods, as processes of this machine: both have the IP 127.0.0.1."""
    return render_node_pods(trainjob(args), load_runtime(), ["127.0.0.1"] * 2)


def node_env(pod: NodePod, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # `python` = this venv
        **pod.env,
        "PADDLE_MASTER_PORT": str(port),  # a free one: other runs may share this machine
        "PADDLE_MASTER_HOST": "localhost",  # in the cluster (and the container test): JobSet's pod DNS name
    }


def run_two_nodes(tmp_path: Path, *program: str) -> list[str]:
    """Both nodes' output; fails unless both exit 0."""
    port = free_port()
    nodes = [
        subprocess.Popen(
            [*pod.command, "--log_dir", str(tmp_path / f"log{pod.rank}"), *pod.args],
            env=node_env(pod, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pod in local_pods(program)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    return outputs


def test_two_nodes_rendezvous_through_the_runtime_command(tmp_path: Path) -> None:
    program = tmp_path / "node_check.py"
    program.write_text(PROGRAM)
    outputs = run_two_nodes(tmp_path, str(program), str(tmp_path))
    assert re.search(r"paddle node 0/2, master 127\.0\.0\.1:\d+", outputs[0])  # node 0 hosts on its own IP
    assert re.search(r"paddle node 1/2, master localhost:\d+", outputs[1])  # node 1 finds it by name
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert results == [{"world": 2, "sum": 3.0}] * 2  # 1 + 2: both nodes took part in one all-reduce


@pytest.mark.slow
def test_two_nodes_train_the_student_data_parallel(tmp_path: Path) -> None:
    """`det-model train` of the student recipe as the TrainJob runs it: one set of checkpoints, and each node
    trained on its half of every epoch (8 images, batch 2 per node: 2 steps an epoch instead of 4)."""
    from support.training_fixtures import tiny_overrides, write_tiny_dataset

    from det_model.config import config_path, dump_config, load_config
    from det_model.training.history import read_history

    label = write_tiny_dataset(tmp_path / "data", 8, seed=0)
    save_dir = tmp_path / "checkpoints"
    overrides = tiny_overrides(tmp_path / "data", label, save_dir, recipe="student", epochs=2)
    config = tmp_path / "config.resolved.yml"
    dump_config(load_config(config_path("ch_PP-OCRv3_det_student.yml"), overrides), config)
    det_model = str(Path(sys.executable).with_name("det-model"))
    run_two_nodes(tmp_path, det_model, "train", "-c", str(config))
    assert "world size 2, rank 1" in (tmp_path / "log1" / "workerlog.0").read_text()
    written = sorted(p.name for p in save_dir.iterdir())
    assert {"best_accuracy.pdparams", "latest.pdparams", "metrics.jsonl"} <= set(written)
    assert not [name for name in written if "rank" in name or name.endswith(".1")]  # rank 0 alone writes
    steps = [r["global_step"] for r in read_history(save_dir / "metrics.jsonl") if r["type"] == "train"]
    assert max(steps) == 4  # 2 epochs x (8 images / (2 nodes x batch 2)); a single node would take 8
