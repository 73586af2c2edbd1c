"""The node command of our ClusterTrainingRuntime, run for real: two nodes on this machine rendezvous.

The exact shell command of manifests/runtime/paddle-distributed.yaml starts `paddle.distributed.launch` twice
with the env the runtime gives a node pod (rank from the completion index, the pod's IP, the master host name,
node count and processes per node from the TrainJob). Node 0 must host the rendezvous on its own address and
node 1 must reach it by a host name (in the cluster JobSet's pod DNS name; here `localhost`). A collective
all-reduce over both nodes (gloo, CPU) proves they formed one job.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

RUNTIME = Path(__file__).resolve().parents[2] / "manifests" / "runtime" / "paddle-distributed.yaml"
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_container() -> dict:
    runtime = yaml.safe_load(RUNTIME.read_text())
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    (container,) = node["template"]["spec"]["template"]["spec"]["containers"]
    return container


def node_env(rank: int, port: int) -> dict[str, str]:
    static = {e["name"]: e["value"] for e in node_container()["env"] if "value" in e}
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # `python` = this venv
        "PADDLE_MASTER_PORT": str(port),
        "PADDLE_RANK": str(rank),  # fieldRef: the pod's job-completion-index
        "POD_IP": "127.0.0.1",  # fieldRef: status.podIP
        "PADDLE_MASTER_HOST": "localhost",  # in the cluster: $(JOBSET_NAME)-node-0-0.$(JOBSET_NAME)
        "PADDLE_NNODES": "2",  # TrainJob trainer.env, set by components/trainjob.py
        "PADDLE_NPROC_PER_NODE": "1",
        "PYTHONUNBUFFERED": static["PYTHONUNBUFFERED"],
    }


def run_two_nodes(tmp_path: Path, *program: str) -> list[str]:
    """Both nodes' output; fails unless both exit 0."""
    command, port = node_container()["command"], free_port()
    nodes = [
        subprocess.Popen(
            [*command, "--log_dir", str(tmp_path / f"log{rank}"), *program],
            env=node_env(rank, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
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
