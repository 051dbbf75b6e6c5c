"""Ray backend: jobs through Ray's Jobs API (``ray.job_submission.JobSubmissionClient``).

- submit: ``submit_job`` with ``submission_id="mingyue-<job id>"``, the CPUs/GPUs/memory as
  entrypoint resources and the spec's env as ``runtime_env.env_vars``; Ray has no run-time limit,
  so the entrypoint runs under coreutils ``timeout`` when the spec sets one;
- status/usage: ``get_job_info`` (Ray's own start/end times, in ms); the reconciler's batch
  status: one ``list_jobs()``; cancel: ``stop_job``;
- capacity: node resources from the dashboard (``/nodes?view=summary``) and the job list.

``ray`` is imported lazily: it sits behind the ``ray`` extra.
"""

from __future__ import annotations

import json
import math
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import Capacity, EngineStatus, JobState, Usage
from mingyue.sdk.errors import InvalidInput

from .base import EngineUnavailable, JobOwner, finished_error

PREFIX = "mingyue-"
JOBS_FRESH_S = 1.0  # statuses() reuses a job list capacity() read less than this ago
TIMEOUT_EXIT = 124  # coreutils timeout's exit status when the limit fired


def _ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value else None


@lru_cache(maxsize=1)
def _client_class() -> type:
    """Return a JobSubmissionClient that checks the cluster's Ray version once per client.

    Ray 2.60's ``submit_job`` repeats ``GET /api/version`` on every call that sets
    ``entrypoint_num_cpus``/``_memory`` — one extra HTTP round trip per submit. The constructor
    already checked it; a client is dropped on any connection error (``RayAdapter._call``), so
    a restarted head is checked again.
    """
    try:
        from ray.job_submission import JobSubmissionClient  # lazy: ray extra, heavy
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EngineUnavailable(
            "compute.engine_down", "ray is not installed (pip install 'mingyue[ray]')", engine="ray"
        ) from exc
    from packaging.version import Version  # lazy: only with the ray extra

    class CheckedOnceClient(JobSubmissionClient):  # type: ignore[misc, unused-ignore]
        def _check_connection_and_version(
            self, min_version: str = "1.9", version_error_message: str | None = None
        ) -> None:
            known = getattr(self, "_server_ray_version", None)
            if known and Version(known) >= Version(min_version):
                return
            if version_error_message is None:
                super()._check_connection_and_version(min_version)
            else:
                super()._check_connection_and_version(min_version, version_error_message)

    return CheckedOnceClient


def ray_seconds(start_ms: int | None, end_ms: int | None) -> int:
    """Whole seconds of a Ray job from its start/end (ms); a started second counts."""
    if not start_ms or not end_ms or end_ms <= start_ms:
        return 0
    return math.ceil((end_ms - start_ms) / 1000)


class RayAdapter:
    """Submit to and read from one Ray cluster through its Jobs API."""

    kind = "ray"

    def __init__(
        self, address: str, *, timeout_s: float = 15.0, headers: dict[str, str] | None = None
    ) -> None:
        self.address = address.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = headers or {}
        self._client: Any = None
        # capacity()'s job list, reused by statuses() right after it in the same reconciler pass
        self._jobs: tuple[float, list[Any]] | None = None

    @property
    def client(self) -> Any:
        """Return the JobSubmissionClient, connecting on first use (and after an error)."""
        if self._client is None:
            try:
                self._client = _client_class()(self.address, headers=self.headers)
            except (ConnectionError, RuntimeError, OSError) as exc:
                raise EngineUnavailable(
                    "compute.engine_down", f"Ray at {self.address} unreachable: {exc}", engine="ray"
                ) from exc
        return self._client

    def _call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, fn)(*args, **kwargs)
        except (ConnectionError, OSError) as exc:
            # The head may have restarted (another version, another token): the next call
            # builds a new client, which checks the connection and version again.
            self._client = None
            raise EngineUnavailable(
                "compute.engine_down", f"Ray at {self.address} unreachable: {exc}", engine="ray"
            ) from exc

    @staticmethod
    def entrypoint(spec: JobSpec) -> str:
        """Return the entrypoint, wrapped in ``timeout`` when the spec sets a run-time limit."""
        command = str(spec.command)
        if spec.max_runtime_s:
            return f"timeout --kill-after=5 {spec.max_runtime_s} /bin/sh -c {shlex.quote(command)}"
        return command

    def submit(self, job_id: str, spec: JobSpec, owner: JobOwner | None = None) -> str:
        """Submit through the Jobs API; return the submission id.

        Ray runs every job as the cluster's own user (no per-job user): a mapped ``owner``
        account is recorded in the job's metadata for the cluster's operator.
        """
        if spec.reservation is not None:
            raise InvalidInput(
                "compute.ray_no_reservation",
                "reservations on Ray pools are not supported yet",
                field="reservation",
            )
        if spec.image is not None:
            raise InvalidInput(
                "compute.ray_no_image",
                "this Ray pool runs commands, not container images",
                field="image",
            )
        resources: dict[str, float] = {}
        if spec.gpus.model:
            # Ray labels nodes with accelerator_type:<model>; ask for a sliver of it.
            resources[f"accelerator_type:{spec.gpus.model}"] = 0.001
        kwargs: dict[str, Any] = {
            "entrypoint": self.entrypoint(spec),
            "submission_id": f"{PREFIX}{job_id}",
            "entrypoint_num_cpus": spec.cpus,
            "metadata": {
                "mingyue_job": job_id,
                **({"mingyue_account": owner.account} if owner and owner.account else {}),
            },
            "runtime_env": {"env_vars": {**spec.env, "MINGYUE_JOB_ID": job_id}},
        }
        if spec.gpus.count:
            kwargs["entrypoint_num_gpus"] = spec.gpus.count
        if spec.memory_mb:
            kwargs["entrypoint_memory"] = spec.memory_mb * 1024 * 1024
        if resources:
            kwargs["entrypoint_resources"] = resources
        try:
            return str(self._call("submit_job", **kwargs))
        except RuntimeError as exc:
            raise InvalidInput(
                "compute.ray_rejected", f"Ray refused the job: {exc}", field="spec"
            ) from exc

    def _info(self, engine_id: str) -> Any | None:
        try:
            return self._call("get_job_info", engine_id)
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return None
            raise EngineUnavailable("compute.engine_down", f"Ray: {exc}", engine="ray") from exc

    def status(self, engine_id: str) -> EngineStatus | None:
        """Map Ray's job status (PENDING/RUNNING/SUCCEEDED/FAILED/STOPPED) to ours."""
        info = self._info(engine_id)
        return None if info is None else self._status_of(info)

    def statuses(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus | None]:
        """One ``list_jobs()`` for every job asked about (Ray keeps finished jobs' records) —
        the one ``capacity()`` read just before in the same pass, when there is one."""
        wanted = set(engine_ids)
        if not wanted:
            return {}
        cached, self._jobs = self._jobs, None  # used once: a later pass asks again
        by_id: dict[str, Any] = {}
        if cached is not None and time.monotonic() - cached[0] < JOBS_FRESH_S:
            by_id = {str(i.submission_id): i for i in cached[1] if str(i.submission_id) in wanted}
        if len(by_id) < len(wanted):  # no list, or one read before a job was submitted: ask
            try:
                infos = self._call("list_jobs")
            except RuntimeError as exc:
                raise EngineUnavailable("compute.engine_down", f"Ray: {exc}", engine="ray") from exc
            by_id = {str(i.submission_id): i for i in infos if str(i.submission_id) in wanted}
        return {e: self._status_of(by_id[e]) if e in by_id else None for e in engine_ids}

    def find(self, job_id: str) -> str | None:
        """Ask Ray for the submission id this adapter gives ``job_id`` (``mingyue-<job_id>``)."""
        engine_id = f"{PREFIX}{job_id}"
        return engine_id if self._info(engine_id) is not None else None

    def _status_of(self, info: Any) -> EngineStatus:
        s = str(info.status.value if hasattr(info.status, "value") else info.status)
        start, end = info.start_time, info.end_time
        exit_code = getattr(info, "driver_exit_code", None)
        if s == "PENDING":
            return EngineStatus(JobState.QUEUED, info.message or None)
        if s == "RUNNING":
            return EngineStatus(JobState.RUNNING, started_at=_ms(start))
        seconds = ray_seconds(start, end)
        if s == "SUCCEEDED":
            return EngineStatus(JobState.SUCCEEDED, None, _ms(start), _ms(end), exit_code, seconds)
        if s == "STOPPED":
            return EngineStatus(
                JobState.CANCELLED,
                f"Ray: STOPPED ({info.message})",
                _ms(start),
                _ms(end),
                exit_code,
                seconds,
            )
        reason = f"Ray: FAILED ({info.message})" if info.message else "Ray: FAILED"
        if info.error_type:
            reason += f" [{info.error_type}]"
        if exit_code == TIMEOUT_EXIT and str(info.entrypoint).startswith("timeout "):
            reason = "Ray: FAILED (time limit reached)"
        return EngineStatus(JobState.FAILED, reason, _ms(start), _ms(end), exit_code, seconds)

    def cancel(self, engine_id: str) -> EngineStatus:
        """Stop the job with ``stop_job``; a finished job gets a clear message instead."""
        st = self.status(engine_id)
        if st is None:
            raise InvalidInput(
                "compute.job_unknown", f"Ray does not know job {engine_id}", field="job_id"
            )
        if st.state.terminal:
            raise finished_error(engine_id, st.state.value)
        self._call("stop_job", engine_id)
        return self.status(engine_id) or EngineStatus(JobState.CANCELLED, "Ray: STOPPED")

    def logs(self, engine_id: str, tail_bytes: int = 65536) -> str:
        """Return the end of the job's driver log."""
        try:
            text = str(self._call("get_job_logs", engine_id))
        except RuntimeError as exc:
            raise InvalidInput("compute.job_unknown", f"Ray: {exc}", field="job_id") from exc
        return text[-tail_bytes:]

    def usage(self, engine_id: str) -> Usage | None:
        """Return seconds from Ray's start/end and the entrypoint resources granted."""
        info = self._info(engine_id)
        if info is None or not info.start_time:
            return None
        end = info.end_time or None
        if end is None:
            end_ms = int(datetime.now(UTC).timestamp() * 1000)
            seconds = ray_seconds(info.start_time, end_ms)
        else:
            seconds = ray_seconds(info.start_time, end)
        cpus = math.ceil(getattr(info, "entrypoint_num_cpus", 0) or 0) or 1
        gpus = math.ceil(getattr(info, "entrypoint_num_gpus", 0) or 0)
        mem = int((getattr(info, "entrypoint_memory", 0) or 0) // (1024 * 1024))
        tres = {"cpu": str(cpus)}
        if gpus:
            tres["gpu"] = str(gpus)
        if mem:
            tres["mem"] = f"{mem}M"
        return Usage(
            seconds=seconds,
            started_at=_ms(info.start_time),
            ended_at=_ms(end),
            cpus=cpus,
            gpus=gpus,
            memory_mb=mem,
            tres=tres,
            source="Ray job info",
        )

    def _get(self, path: str) -> Any:
        # the pool's endpoint, an http(s) URL its operator registered
        req = urllib.request.Request(self.address + path, headers=self.headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EngineUnavailable(
                "compute.engine_down",
                f"Ray dashboard at {self.address} unreachable: {exc}",
                engine="ray",
            ) from exc

    def capacity(self) -> Capacity:
        """Read node resources from the dashboard and the running/pending jobs from Ray."""
        summary = self._get("/nodes?view=summary")
        nodes = (summary.get("data") or {}).get("summary") or []
        cpus = 0.0
        gpus: dict[str, int] = {}
        mem = 0.0
        alive = 0
        for node in nodes:
            raylet = node.get("raylet") or {}
            if raylet.get("state") != "ALIVE":
                continue
            alive += 1
            res = raylet.get("resourcesTotal") or {}
            cpus += float(res.get("CPU", 0))
            mem += float(res.get("memory", 0))
            n_gpu = int(res.get("GPU", 0))
            if n_gpu:
                models = [k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")]
                key = models[0] if models else "GPU"
                gpus[key] = gpus.get(key, 0) + n_gpu
        used = 0.0
        queued = running = 0
        jobs = list(self._call("list_jobs"))
        self._jobs = (time.monotonic(), jobs)
        for job in jobs:
            s = str(job.status.value if hasattr(job.status, "value") else job.status)
            if s == "RUNNING":
                running += 1
                used += float(getattr(job, "entrypoint_num_cpus", 0) or 0)
            elif s == "PENDING":
                queued += 1
        return Capacity(
            cpus=int(cpus),
            free_cpus=max(int(cpus - used), 0),
            gpus=gpus,
            memory_mb=int(mem / (1024 * 1024)) or None,
            queued=queued,
            running=running,
            nodes=alive,
            down_reason=None if alive else "no live Ray nodes",
        )
