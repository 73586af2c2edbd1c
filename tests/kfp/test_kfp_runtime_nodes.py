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
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import free_port

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


def test_two_nodes_rendezvous_through_the_runtime_command(tmp_path: Path) -> None:
    program = tmp_path / "node_check.py"
    program.write_text(PROGRAM)
    command, port = node_container()["command"], free_port()
    nodes = [
        subprocess.Popen(
            [*command, "--log_dir", str(tmp_path / f"log{rank}"), str(program), str(tmp_path)],
            env=node_env(rank, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=240)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert f"master 127.0.0.1:{port}" in outputs[0] and f"master localhost:{port}" in outputs[1]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert results == [{"world": 2, "sum": 3.0}] * 2  # 1 + 2: both nodes took part in one all-reduce
