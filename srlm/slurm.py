"""srlm's SLURM launcher (``hydra/launcher=slurm`` and ``slurm_local``): submitit's, plus

* a check of the request against the partition's nodes before anything is submitted: a request
  no node can meet (8 CPUs on a 2-CPU node, a GPU on a GPU-less cluster, more memory than a node
  has) is refused with one line, instead of an sbatch error or a job PENDING forever;
* a wait for every job (not the first failure only) that polls ``squeue`` every ``poll_s``
  seconds (submitit alone polls sacct ever more rarely, up to every 10 minutes): a job PENDING
  for a reason that will not change (``PartitionConfig``, ``ReqNodeNotAvail``...) longer than
  ``pending_timeout_s`` is cancelled, and a cancelled, timed-out or killed job is recorded as
  failed (``srlm.sweep``), so the sweep lists it and exits non-zero;
* Ctrl-C cancels the sweep's jobs.

``launch`` follows hydra-submitit-launcher 1.2.0's ``BaseSubmititLauncher.launch`` (MIT).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from omegaconf import OmegaConf

from srlm import sweep
from srlm.errors import one_line

log = logging.getLogger("srlm")

# PENDING reasons that no amount of waiting changes (the rest, e.g. Resources or Priority, do).
HOPELESS_REASONS = (
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "PartitionDown",
    "PartitionInactive",
    "ReqNodeNotAvail",
    "BadConstraints",
    "InvalidAccount",
    "InvalidQOS",
    "QOSMaxCpuPerJobLimit",
    "QOSMaxMemoryPerJob",
    "QOSMaxGRESPerJob",
    "DependencyNeverSatisfied",
    "JobHeldAdmin",
    "Nodes_required_for_job_are_DOWN",
)
RUNNING_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING"}
RUNNING_STATES |= {
    "SUSPENDED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
    "PREEMPTED",
}
# srlm's own keys in the launcher config; the rest go to submitit.
OWN_KEYS = ("check_resources", "pending_timeout_s", "poll_s")


class SlurmRequestError(Exception):
    """The launcher's request cannot be met by the cluster (one line)."""


@dataclass
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    state: str
    partitions: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not re.search(r"DOWN|DRAIN|FAIL|NOT_RESPONDING|FUTURE|POWERED_DOWN", self.state)


@dataclass
class Request:
    """What each node of a job must have."""

    nodes: int
    cpus: int
    mem_mb: int | None
    gpus: int
    timeout_min: int | None

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> Request:
        tasks = int(p.get("tasks_per_node") or 1)
        cpus = int(p.get("cpus_per_task") or 1) * tasks
        gpus = int(p.get("gpus_per_node") or 0) or int(p.get("gpus_per_task") or 0) * tasks
        gres = p.get("gres") or ""
        gpus = gpus or sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))
        if gres and not gpus and re.search(r"\bgpu\b", gres):
            gpus = 1
        mem_mb = None
        if p.get("mem_gb"):
            mem_mb = int(float(p["mem_gb"]) * 1024)
        elif p.get("mem_per_cpu"):
            mem_mb = _mb(p["mem_per_cpu"]) * cpus
        elif p.get("mem_per_gpu") and gpus:
            mem_mb = _mb(p["mem_per_gpu"]) * gpus
        timeout = p.get("timeout_min")
        return cls(int(p.get("nodes") or 1), cpus, mem_mb, gpus, int(timeout) if timeout else None)

    def describe(self) -> str:
        parts = [f"{self.cpus} CPU{'s' * (self.cpus != 1)}"]
        if self.mem_mb:
            parts.append(_gb(self.mem_mb))
        if self.gpus:
            parts.append(f"{self.gpus} GPU{'s' * (self.gpus != 1)}")
        per = " per node" if self.nodes == 1 else f" on each of {self.nodes} nodes"
        return ", ".join(parts) + per


def _mb(value: Any) -> int:
    """A SLURM memory size (``4G``, ``4000``, ``512M``) in MB."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(value), re.IGNORECASE)
    if not m:
        raise SlurmRequestError(f"cannot read the memory size {value!r}")
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


def _gb(mb: int) -> str:
    return f"{mb / 1024:.0f} GB" if mb >= 10 * 1024 else f"{mb / 1024:.1f} GB"


def _run(*cmd: str, timeout: float = 30) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=timeout).stdout


def _fields(line: str) -> dict[str, str]:
    """``scontrol show -o`` output: ``Key=Value`` pairs separated by spaces."""
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line))


def cluster_nodes() -> list[Node]:
    nodes = []
    for line in _run("scontrol", "show", "node", "-o").splitlines():
        f = _fields(line)
        if "NodeName" not in f:
            continue
        gres = f.get("Gres", "")
        gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))
        mem = int(f.get("RealMemory") or 0) - int(f.get("MemSpecLimit") or 0)
        nodes.append(
            Node(
                f["NodeName"],
                int(f.get("CPUTot") or 0) - int(f.get("CoreSpecCount") or 0),
                mem,
                gpus,
                f.get("State", ""),
                (f.get("Partitions") or "").split(","),
            )
        )
    return nodes


def partitions() -> dict[str, dict[str, str]]:
    out = {}
    for line in _run("scontrol", "show", "partition", "-o").splitlines():
        f = _fields(line)
        if "PartitionName" in f:
            out[f["PartitionName"]] = f
    return out


def _minutes(limit: str) -> int | None:
    """A SLURM time limit (``UNLIMITED``, ``30``, ``2:00:00``, ``1-00:00:00``) in minutes."""
    if not limit or limit.upper() in ("UNLIMITED", "INFINITE", "NONE"):
        return None
    days, _, rest = limit.rpartition("-")
    parts = [int(x) for x in rest.split(":")]
    h, m, s = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def check_request(params: dict[str, Any]) -> None:
    """Raise ``SlurmRequestError`` (one line) when no node of the partition can run a job."""
    request = Request.from_params(params)
    parts = partitions()
    name = params.get("partition")
    if name is None:
        defaults = [p for p, f in parts.items() if f.get("Default") == "YES"]
        if not defaults:
            raise SlurmRequestError(
                "the cluster has no default partition: set hydra.launcher.partition "
                f"(partitions: {', '.join(parts) or 'none'})"
            )
        name = defaults[0]
    if name not in parts:
        raise SlurmRequestError(
            f"partition {name!r} does not exist (partitions: {', '.join(parts) or 'none'})"
        )
    part = parts[name]
    if part.get("State", "UP") != "UP":
        raise SlurmRequestError(f"partition {name!r} is {part['State']}")
    max_time = _minutes(part.get("MaxTime", ""))
    if request.timeout_min and max_time and request.timeout_min > max_time:
        raise SlurmRequestError(
            f"hydra.launcher.timeout_min={request.timeout_min} exceeds partition {name!r}'s "
            f"time limit ({max_time} min)"
        )
    nodes = [n for n in cluster_nodes() if name in n.partitions]
    usable = [n for n in nodes if n.usable]
    fit = [
        n
        for n in usable
        if n.cpus >= request.cpus
        and (request.mem_mb is None or n.mem_mb >= request.mem_mb)
        and n.gpus >= request.gpus
    ]
    if len(fit) >= request.nodes:
        return
    if not usable:
        states = ", ".join(sorted({n.state for n in nodes})) or "no nodes"
        raise SlurmRequestError(f"partition {name!r} has no usable node ({states})")
    biggest = max(usable, key=lambda n: (n.gpus, n.cpus, n.mem_mb))
    has = f"{biggest.cpus} CPUs, {_gb(biggest.mem_mb)}, " + (
        f"{biggest.gpus} GPUs" if biggest.gpus else "no GPU"
    )
    hint = [
        f"hydra.launcher.{key}"
        for key, short in (
            ("cpus_per_task", request.cpus > biggest.cpus),
            ("mem_gb", request.mem_mb is not None and request.mem_mb > biggest.mem_mb),
            ("gpus_per_node", request.gpus > biggest.gpus),
            ("nodes", len(fit) < request.nodes and fit),
        )
        if short
    ]
    raise SlurmRequestError(
        f"hydra.launcher asks for {request.describe()} in partition {name!r}, where "
        f"{len(fit)} of {len(usable)} node{'s' * (len(usable) != 1)} can run it (largest: {has}); "
        f"lower {', '.join(hint) or 'the request'} or use hydra/launcher=slurm_local"
    )


def _error_of(exc: BaseException) -> str:
    """submitit's FailedJobError holds the job's traceback: its last ``Error:`` line."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b:?", line):
            return line
    return next((ln for ln in lines if ln), type(exc).__name__)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """``hydra_submitit_launcher``'s SlurmLauncher with a resource check, a watch on PENDING
    jobs and failed-job records (see the module docstring)."""

    def __init__(
        self,
        check_resources: bool = True,
        pending_timeout_s: float | None = 120,
        poll_s: float = 2,
        **params: Any,
    ) -> None:
        self.check_resources = bool(check_resources)
        # None: wait as long as it takes (e.g. ReqNodeNotAvail for a maintenance reservation)
        self.pending_timeout_s = float("inf") if pending_timeout_s is None else pending_timeout_s
        self.poll_s = float(poll_s)
        super().__init__(**params)

    # -- submission --------------------------------------------------------------------------
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None and self.hydra_context is not None
        try:  # the typing submitit's own config (SlurmQueueConf) would have checked
            OmegaConf.merge(OmegaConf.structured(SlurmQueueConf), _escaped(self.params))
        except Exception as e:
            _refuse(f"hydra.launcher: {one_line(e)}")
        if self.check_resources:
            if shutil.which("scontrol") is None:
                _refuse("SLURM's scontrol is not on PATH: is this a SLURM login node?")
            try:
                check_request(self.params)
            except SlurmRequestError as e:
                _refuse(str(e))
            except (OSError, subprocess.SubprocessError) as e:
                log.warning("could not check the request against the cluster: %s", e)

        params = dict(self.params)
        init_params = {"folder": params["submitit_folder"]}
        if "max_num_timeout" in params:
            init_params["slurm_max_num_timeout"] = params["max_num_timeout"]
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in params.items()
                if k not in ("submitit_folder", "max_num_timeout")
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))

        job_params = []
        for idx, overrides in enumerate(job_overrides):
            idx = initial_job_idx + idx
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    idx,
                    f"job_id_for_{idx}",
                    Singleton.get_state(),
                )
            )
        try:
            jobs = executor.map_array(self, *zip(*job_params))
        except Exception as e:  # sbatch refused it (the check above is skipped or missed it)
            _refuse(f"sbatch refused the sweep: {_error_of(e)}")
        log.info("SLURM jobs: %s", " ".join(j.job_id for j in jobs))
        try:
            notes = self._wait(jobs)
        except KeyboardInterrupt:
            log.warning("interrupted: cancelling %s", " ".join(j.job_id for j in jobs))
            for j in jobs:
                j.cancel(check=False)
            raise
        return [
            self._result(j, overrides, initial_job_idx + i, notes.get(j.job_id))
            for i, (j, overrides) in enumerate(zip(jobs, job_overrides))
        ]

    # -- waiting -----------------------------------------------------------------------------
    def _wait(self, jobs: list[Any]) -> dict[str, str]:
        """Wait until every job has ended; cancel those PENDING for a hopeless reason too long.
        Returns a note (why it was cancelled) per cancelled job id."""
        notes: dict[str, str] = {}
        hopeless_since: dict[str, float] = {}
        unknown_since: dict[str, float] = {}
        left = {j.job_id: j for j in jobs}
        while left:
            queue = _squeue(list(left))
            if queue is None:  # slurmctld busy or restarting: ask again later
                time.sleep(self.poll_s)
                continue
            for job_id, job in list(left.items()):
                if job.paths.result_pickle.exists():
                    del left[job_id]
                    continue
                state, reason = queue.get(job_id, ("", ""))
                if not state:  # gone from squeue (ended over MinJobAge ago): ask accounting
                    state = job.watcher.get_state(job_id, mode="standard")
                    if state.upper() in ("UNKNOWN", ""):
                        first = unknown_since.setdefault(job_id, time.monotonic())
                        if time.monotonic() - first < max(60.0, 5 * self.poll_s):
                            continue
                        notes.setdefault(job_id, "SLURM no longer knows it (squeue, sacct)")
                        state = "UNKNOWN"
                if state.split()[0].upper() not in RUNNING_STATES:
                    del left[job_id]
                    continue
                if state.upper() == "PENDING" and reason.startswith(HOPELESS_REASONS):
                    first = hopeless_since.setdefault(job_id, time.monotonic())
                    waited = time.monotonic() - first
                    if waited >= self.pending_timeout_s:
                        notes[job_id] = (
                            f"PENDING ({reason}) for {waited:.0f} s, which waiting will not "
                            f"change: cancelled (hydra.launcher.pending_timeout_s)"
                        )
                        log.error("SLURM job %s: %s", job_id, notes[job_id])
                        job.cancel(check=False)
                        del left[job_id]
                else:
                    hopeless_since.pop(job_id, None)
            if left:
                time.sleep(self.poll_s)
        return notes

    def _result(self, job: Any, overrides: Sequence[str], num: int, note: str | None) -> JobReturn:
        try:
            if note is None:
                return job.results()[0]
            error = f"SLURM job {job.job_id}: {note}"
        except Exception as e:
            state = job.watcher.get_state(job.job_id, mode="force")
            if "has not produced any output" in str(e):
                error = f"SLURM job {job.job_id} ended {state} without a result"
            else:  # the job's Python failed outside the task (e.g. unpickling): its last error
                error = f"SLURM job {job.job_id} ({state}): {_error_of(e)}"
        ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
        ret.return_value = RuntimeError(error)
        assert self.config is not None and self.hydra_context is not None
        if sweep.has_sweep_report(self.hydra_context.callbacks):
            sweep.write_record(
                self.config.hydra.sweep.dir,
                num,
                status="failed",
                overrides=list(overrides),
                error=error,
                log=str(job.paths.stderr) if job.paths.stderr.exists() else None,
                slurm_job=job.job_id,
            )
            sweep.mark_reported(ret, error)
        return ret


def _squeue(job_ids: list[str]) -> dict[str, tuple[str, str]] | None:
    """State and reason of each job (array tasks one by one), including jobs just ended; None
    when squeue fails."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = _run(
            "squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(arrays), timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    states = {}
    for line in out.splitlines():
        job_id, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        states[job_id] = (state, reason)
    return states


def _escaped(value: Any) -> Any:
    """``value`` with ``${`` escaped: resolved once already (``setup`` holds shell ``${...}``)."""
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _refuse(message: str) -> NoReturn:
    print(f"srlm: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)
