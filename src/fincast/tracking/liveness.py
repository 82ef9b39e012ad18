"""Which process owns a run, and closing the runs whose process died without ending them.

A fincast run is tagged with the host, the process id and, on Linux, the boot and the
process's start time (a later process may reuse the pid, never both). A process killed
with SIGKILL cannot end its run, which would then stay ``RUNNING`` forever; the next
fincast writer on the same host finds such runs and ends them as ``KILLED``, saying why.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

HOST_TAG = "fincast.host"
PID_TAG = "fincast.pid"
BOOT_TAG = "fincast.boot_id"
START_TAG = "fincast.process_start"
END_REASON_TAG = "fincast.end_reason"

logger = logging.getLogger(__name__)


def _read_proc(path: str) -> str | None:
    """The text of a ``/proc`` file, or ``None`` where there is none (not Linux, no such pid)."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def boot_id() -> str | None:
    """This boot of the Linux kernel (process start times count from it), else ``None``."""
    text = _read_proc("/proc/sys/kernel/random/boot_id")
    return text.strip() if text else None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22).

    Returns:
        The start time, or ``None`` where there is no ``/proc``, no such process, or the
        process has ended and only its zombie entry is left.
    """
    text = _read_proc(f"/proc/{pid}/stat")
    if text is None:
        return None
    # Field 2 is the command name in parentheses, and may hold spaces or parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    state, start = fields[0], fields[19]  # fields 3 and 22
    return None if state in {"Z", "X"} else start


def process_tags(pid: int | None = None) -> dict[str, str]:
    """The tags naming process ``pid`` (default: this one) on this host."""
    pid = os.getpid() if pid is None else pid
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start, boot = process_start(pid), boot_id()
    if start is not None and boot is not None:
        tags.update({START_TAG: start, BOOT_TAG: boot})
    return tags


def _pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists, by signal 0 (POSIX only; elsewhere assume it does)."""
    if os.name != "posix":
        return True  # os.kill on Windows would terminate the process, not probe it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def process_alive(tags: dict[str, str]) -> bool:
    """Whether the process that ``tags`` (from :func:`process_tags`) name still runs.

    Call it only for tags of this host. With a start time recorded, the process counts
    as alive only if the same boot has a process with that pid and that start time.
    """
    if not tags[PID_TAG].isdigit():
        return True  # not a pid fincast wrote: leave the run alone
    pid = int(tags[PID_TAG])
    start, boot = tags.get(START_TAG), tags.get(BOOT_TAG)
    if start is not None and boot is not None:
        current_boot = boot_id()
        if current_boot is not None:
            return boot == current_boot and process_start(pid) == start
    return _pid_exists(pid)


def end_reason(tags: dict[str, str]) -> str:
    """Why a run of a dead process was ended, for the ``fincast.end_reason`` tag."""
    return f"process {tags[PID_TAG]} on {tags[HOST_TAG]} ended without closing the run"


def close_dead_runs(client: Any, experiment_id: str) -> list[str]:
    """End as ``KILLED`` the ``RUNNING`` runs of this host whose process has died.

    One search finds this host's running runs in the experiment; runs of other hosts,
    and runs without fincast's process tags, are left alone. Never raises: a failure
    is logged, and a training run goes on.

    Returns:
        The ids of the runs ended.
    """
    host = socket.gethostname().replace("'", "")
    closed: list[str] = []
    try:
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
            max_results=1000,
        )
        for run in runs:
            tags = run.data.tags
            if PID_TAG not in tags or process_alive(tags):
                continue
            client.set_tag(run.info.run_id, END_REASON_TAG, end_reason(tags))
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    except Exception as error:  # closing stale runs must never stop a job
        logger.warning("Could not close the runs of dead processes: %s", error)
    if closed:
        logger.info("Ended %d run(s) whose process had died: %s", len(closed), closed)
    return closed
