"""A stand-in for the Kubernetes API of a cluster running Kubeflow Trainer, backed by a container engine.

It answers the calls components/launcher.py makes (CustomObjectsApi and CoreV1Api, for one TrainJob):
creating the TrainJob renders its node pods as Trainer and JobSet would (support.node_pods) and starts each
as a container of the Docker API engine, on a user network of its own where pod i has a fixed address (its
POD_IP) and the DNS name JobSet gives it, `<jobset>-node-0-<i>.<jobset>`, answered by the engine's DNS
server (podman: aardvark-dns), not by /etc/hosts. PVC claims are host folders mounted at the same path.
Reading the TrainJob reports Complete when every node exited 0, Failed when one did not (no JobSet
restarts) or when the job outlived its activeDeadlineSeconds (capped by `deadline_s`: a hung rendezvous
fails the test instead of hanging it); pod logs are the containers' output, lines stamped with their
position. Resources, tolerations and node selectors have no meaning here and are ignored.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any, Mapping, Optional

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from support.node_pods import NodePod, render_node_pods

from components.trainjob import GROUP, PLURAL, POD_SELECTOR

FIRST_HOST = 10  # pod i gets the network's address .10 + i


class ContainerCluster:
    def __init__(self, engine: Any, runtime: dict, claims: Mapping[str, Path], prefix: str,
                 deadline_s: float = 480.0):
        """`engine`: a docker.DockerClient; `claims`: PVC claim name -> host folder; `prefix`: names our
        containers and network (unique per test run: the engine is shared)."""
        self.engine, self.runtime, self.claims, self.prefix = engine, runtime, dict(claims), prefix
        self.deadline_s, self.started = deadline_s, 0.0
        self.job: Optional[dict] = None
        self.pods: list[NodePod] = []
        self.containers: dict[str, Any] = {}  # pod hostname -> container
        self.network: Any = None

    # ---------------------------------------------------------------------------- CustomObjectsApi
    def create_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                        body: dict) -> dict:
        if (group, plural) != (GROUP, PLURAL):
            raise ApiException(status=404, reason=f"no {plural}.{group} here")
        if self.job is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        self.job = body
        name = body["metadata"]["name"]
        self.network = self.engine.networks.create(f"{self.prefix}-{name}", driver="bridge")
        self.network.reload()
        subnet = ipaddress.ip_network(self.network.attrs["IPAM"]["Config"][0]["Subnet"])
        count = int(body["spec"]["trainer"]["numNodes"])
        ips = [str(subnet.network_address + FIRST_HOST + i) for i in range(count)]
        self.pods = render_node_pods(body, self.runtime, ips)
        for pod, ip in zip(self.pods, ips):
            self.containers[pod.hostname] = self._create(pod, ip)
        for container in self.containers.values():
            container.start()
        self.started = time.monotonic()
        own = body["spec"].get("activeDeadlineSeconds")
        self.deadline_s = min(self.deadline_s, float(own)) if own else self.deadline_s
        return body

    def _create(self, pod: NodePod, ip: str) -> Any:
        unknown = set(pod.claims) - set(self.claims)
        if unknown:
            raise ApiException(status=422, reason=f"PersistentVolumeClaim {sorted(unknown)} not found")
        endpoint = self.engine.api.create_endpoint_config(ipv4_address=ip, aliases=[pod.dns_name])
        return self.engine.containers.create(
            pod.image,
            entrypoint=list(pod.command),
            command=list(pod.args),
            name=f"{self.prefix}-{pod.hostname}",
            hostname=pod.hostname,
            environment=pod.env,
            network=self.network.name,
            networking_config={self.network.name: endpoint},
            volumes={str(self.claims[c]): {"bind": path, "mode": "rw"} for c, path in pod.claims.items()},
            shm_size=(pod.shm_size or "64Mi").replace("i", "").lower(),  # Docker API units: 16g, 64m
        )

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                     name: str) -> dict:
        if self.job is None or name != self.job["metadata"]["name"]:
            raise ApiException(status=404, reason="NotFound")
        return {**self.job, "status": self._status()}

    def delete_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                        name: str, propagation_policy: str = "Background") -> None:
        if self.job is None or name != self.job["metadata"]["name"]:
            raise ApiException(status=404, reason="NotFound")
        self.close()

    def _status(self) -> dict:
        phases = self.phases()
        failed = [pod for pod, phase in phases.items() if phase == "Failed"]
        if failed:
            condition = {"type": "Failed", "status": "True", "reason": "NodeFailed",
                         "message": f"{', '.join(failed)} exited with {self.exit_codes()}"}
            return {"conditions": [condition]}
        if all(phase == "Succeeded" for phase in phases.values()):
            return {"conditions": [{"type": "Complete", "status": "True", "reason": "JobSetCompleted"}]}
        if time.monotonic() - self.started > self.deadline_s:
            message = f"running longer than {self.deadline_s:.0f} s: {phases}"
            return {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                    "message": message}]}
        active = sum(phase == "Running" for phase in phases.values())
        return {"jobsStatus": [{"name": "node", "active": active}]}

    # ---------------------------------------------------------------------------------- CoreV1Api
    def list_namespaced_event(self, namespace: str) -> k8s.CoreV1EventList:
        return k8s.CoreV1EventList(items=[])

    def list_namespaced_pod(self, namespace: str, label_selector: str = "") -> k8s.V1PodList:
        if self.job is None or label_selector != POD_SELECTOR.format(name=self.job["metadata"]["name"]):
            return k8s.V1PodList(items=[])
        pods = [k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name), status=k8s.V1PodStatus(phase=phase))
                for name, phase in self.phases().items()]
        return k8s.V1PodList(items=pods)

    def read_namespaced_pod_log(self, name: str, namespace: str, **options: Any) -> str:
        """The whole log, every line stamped with its zero-padded position (the launcher echoes the lines
        whose stamp is past the last one it echoed; podman's own stamps have whole seconds only)."""
        if name not in self.containers:
            raise ApiException(status=404, reason="NotFound")
        return "".join(f"{i:09d} {line}\n" for i, line in enumerate(self.logs(name).splitlines()))

    # ------------------------------------------------------------------------------------ helpers
    def logs(self, pod: str) -> str:
        return self.containers[pod].logs().decode(errors="replace")

    def phases(self) -> dict[str, str]:
        out = {}
        for name, container in self.containers.items():
            container.reload()
            state = container.attrs["State"]
            if container.status in ("created", "configured"):
                out[name] = "Pending"
            elif container.status == "running":
                out[name] = "Running"
            else:
                out[name] = "Succeeded" if state.get("ExitCode") == 0 else "Failed"
        return out

    def exit_codes(self) -> dict[str, Optional[int]]:
        return {name: c.attrs["State"].get("ExitCode") for name, c in self.containers.items()}

    def close(self) -> None:
        """Remove our containers and network (idempotent; also what deleting the TrainJob does)."""
        for container in self.containers.values():
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.containers.clear()
        if self.network is not None:
            self.network.remove()
            self.network = None
        self.job = None
