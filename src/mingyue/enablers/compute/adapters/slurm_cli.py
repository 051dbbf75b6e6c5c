"""What the Slurm adapter and its reservations share: reading Slurm's text, and the shape of
the command runner the reservation functions drive (``SlurmCli``, which ``SlurmAdapter`` is).

Kept apart so that ``slurm.py`` (jobs) and ``slurm_reservation.py`` (slots) both import it and
neither imports the other's module back.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from typing import Protocol

_KV = re.compile(r"(\S+?)=(\S*)")


class SlurmCli(Protocol):
    """A Slurm cluster driven through its command line on this host."""

    @property
    def partition(self) -> str | None:
        """The partition jobs and reservations go to (None: the cluster's default)."""
        ...

    @property
    def reservation_users(self) -> str | None:
        """The account(s) a reservation is created for (None: this host's user)."""
        ...

    @property
    def has_sacct(self) -> bool:
        """Say whether the cluster runs slurmdbd (``sacct``/``sacctmgr`` hold its records)."""
        ...

    def _run(
        self, args: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def parse_kv_line(line: str) -> dict[str, str]:
    """Parse one ``scontrol show job -o`` or ``jobcomp/filetxt`` line into key → value."""
    return {m.group(1): m.group(2) for m in _KV.finditer(line)}


def parse_slurm_time(value: str | None) -> datetime | None:
    """Read Slurm's ``2026-11-23T11:31:43`` (the controller's local time) as an aware UTC time."""
    if not value or value.lower() in {"unknown", "none", "n/a", "(null)"}:  # squeue: NONE
        return None
    # Slurm prints the controller's local time without a zone; this host is that controller.
    return datetime.fromisoformat(value).astimezone().astimezone(UTC)
