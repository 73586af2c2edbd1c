"""Create a distributed training job (TrainJob or PaddleJob), follow it into the KFP step log, clean up.

- The job is owned by the launcher pod (`components.distributed.owner_reference`), and SIGTERM (KFP
  terminating the run, or the pod being deleted) deletes it before the launcher exits: nothing keeps
  holding GPUs after the run is gone.
- Re-attach or replace: a retried launcher finds its job by name (names are content keys). A running or
  finished job is followed; a failed one is deleted and the launcher waits until the API no longer returns it
  (the delete is asynchronous) before creating it again, instead of racing into 409 AlreadyExists.
- Node logs (all pods of the job, prefixed with the pod name) and the events of the job and its pods (e.g.
  FailedScheduling) are echoed into the step log as they arrive.
- The job carries its own deadline (activeDeadlineSeconds); the launcher gives up a little after it.
The pod needs the Role of manifests/components/rbac-<engine>: exactly the calls made here.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from components import paddlejob, trainjob

SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
GRACE_S = 600.0  # the launcher outlives the job's own deadline by this much before deleting it itself
FIRST_LOG_LINES = 200  # when attaching to a running job, start from the last lines only


class JobFailed(RuntimeError):
    """The job ended Failed (the message carries the engine's reason), timed out, or could not be replaced."""


class Terminated(BaseException):
    """SIGTERM arrived (run terminated in KFP, pod deleted); BaseException: no `except Exception` eats it."""


@dataclass(frozen=True)
class Engine:
    group: str
    version: str
    plural: str
    kind: str
    state: Callable[[dict], tuple[str, str]]
    pod_selector: str  # label selector of the job's pods; '{name}' is the job name
    build: Callable[..., dict]  # (name, namespace, NodeSpec, owner) -> body


ENGINES = {
    "trainjob": Engine(
        trainjob.GROUP, trainjob.VERSION, trainjob.PLURAL, trainjob.KIND, trainjob.trainjob_state,
        trainjob.POD_SELECTOR, trainjob.build_trainjob,
    ),
    "paddlejob": Engine(
        paddlejob.GROUP, paddlejob.VERSION, paddlejob.PLURAL, paddlejob.KIND, paddlejob.paddlejob_state,
        paddlejob.POD_SELECTOR, paddlejob.build_paddlejob,
    ),
}  # fmt: skip


def engine_named(name: str) -> Engine:
    if name not in ENGINES:
        raise ValueError(f"engine={name!r}; known: {', '.join(ENGINES)}")
    return ENGINES[name]


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` in the main thread while the job is followed."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Follower:
    """One job's lifecycle against CustomObjectsApi (`custom`) and CoreV1Api (`core`)."""

    def __init__(
        self,
        engine: Engine,
        body: dict[str, Any],
        custom: Any,
        core: Any,
        *,
        poll_s: float = 20.0,
        echo: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.engine, self.body, self.custom, self.core = engine, body, custom, core
        self.name, self.namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        self.where = dict(
            group=engine.group, version=engine.version, namespace=self.namespace, plural=engine.plural
        )
        self.poll_s, self.echo, self.clock, self.sleep = poll_s, echo, clock, sleep
        self.seen_events: set[str] = set()
        self.log_marks: dict[str, str] = {}  # pod -> timestamp of the last echoed line

    @property
    def label(self) -> str:
        return f"{self.engine.kind} {self.namespace}/{self.name}"

    def run(self, timeout_s: float) -> dict[str, Any]:
        """Create or re-attach, follow to the end; delete the job on SIGTERM or timeout."""
        with sigterm_raises():
            try:
                self.create_or_attach(timeout_s)
                return self.follow(timeout_s + GRACE_S)
            except Terminated as exc:
                self.echo(f"{self.label}: {exc} received; deleting the job")
                self.delete()
                raise SystemExit(128 + signal.SIGTERM) from None

    def get(self) -> Optional[dict[str, Any]]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.custom.get_namespaced_custom_object(name=self.name, **self.where)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self) -> None:
        from kubernetes.client.exceptions import ApiException

        try:  # Foreground: the job's pods go before the job object does
            self.custom.delete_namespaced_custom_object(
                name=self.name, propagation_policy="Foreground", **self.where
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def create_or_attach(self, timeout_s: float) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.custom.create_namespaced_custom_object(body=self.body, **self.where)
            self.echo(f"{self.label}: created")
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        existing = self.get()
        if existing is not None and not existing["metadata"].get("deletionTimestamp"):
            if self.engine.state(existing)[0] != "Failed":
                self.echo(f"{self.label}: exists; attaching (a retried launcher, or identical work)")
                return
            self.echo(f"{self.label}: the previous attempt failed; deleting it")
            self.delete()
        self.wait_gone(min(timeout_s, GRACE_S))
        self.custom.create_namespaced_custom_object(body=self.body, **self.where)
        self.echo(f"{self.label}: re-created")

    def wait_gone(self, timeout_s: float) -> None:
        deadline = self.clock() + timeout_s
        while self.get() is not None:
            if self.clock() > deadline:
                raise JobFailed(f"{self.label}: still being deleted after {timeout_s:.0f}s; not re-created")
            self.sleep(min(self.poll_s, 5.0))

    def follow(self, timeout_s: float) -> dict[str, Any]:
        deadline, last = self.clock() + timeout_s, ("", "")
        while True:
            current = self.get()
            if current is None:
                raise JobFailed(f"{self.label} disappeared (deleted by someone else?)")
            state = self.engine.state(current)
            if state != last:
                self.echo(f"{self.label}: {state[0]} {state[1]}".rstrip())
                last = state
            self.report()
            if state[0] == "Succeeded":
                return current
            if state[0] == "Failed":
                raise JobFailed(f"{self.label} failed: {state[1] or 'no reason given'}")
            if self.clock() > deadline:
                self.delete()
                raise JobFailed(f"{self.label} timed out after {timeout_s:.0f}s in {state[0]}; deleted")
            self.sleep(self.poll_s)

    def report(self) -> None:
        """Echo new events of the job and its pods, then new log lines of every pod."""
        events = self.core.list_namespaced_event(self.namespace).items or []
        for event in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time or "")):
            involved = event.involved_object.name or ""
            if not involved.startswith(self.name) or event.metadata.uid in self.seen_events:
                continue
            self.seen_events.add(event.metadata.uid)
            self.echo(
                f"event {event.type} {event.reason} {event.involved_object.kind}/{involved}: {event.message}"
            )
        selector = self.engine.pod_selector.format(name=self.name)
        for pod in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items or []:
            if pod.status is not None and pod.status.phase in ("Running", "Succeeded", "Failed"):
                self.echo_logs(pod.metadata.name)

    def echo_logs(self, pod: str) -> None:
        from kubernetes.client.exceptions import ApiException

        mark = self.log_marks.get(pod)
        try:
            text = self.core.read_namespaced_pod_log(
                pod,
                self.namespace,
                timestamps=True,
                tail_lines=None if mark else FIRST_LOG_LINES,
                since_seconds=int(3 * self.poll_s) + 60 if mark else None,  # overlap; the stamp filters it
            )
        except ApiException as exc:  # the container may be gone between list and read
            self.echo(f"[{pod}] logs unavailable: {exc.status} {exc.reason}")
            return
        for line in (text or "").splitlines():
            stamp, _, message = line.partition(" ")
            if mark is None or stamp > mark:
                self.echo(f"[{pod}] {message}")
                self.log_marks[pod] = stamp


def current_namespace(default: str = "kubeflow") -> str:
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as f:
            return f.read().strip() or default
    except OSError:
        return default


def default_apis() -> tuple[Any, Any]:
    """(CustomObjectsApi, CoreV1Api) from the pod's service account (or ~/.kube/config outside a cluster)."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi(), client.CoreV1Api()
