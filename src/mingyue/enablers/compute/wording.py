"""What the console says about a job in the reader's language: the matcher's explanation line,
the engines' reasons, and run times with their units.

The engine and the adapters write one English line for logs, the API and the CLI (``pool B:
¥3.20, start ≈ 2 min; pool A rejected: no A100``); the console reads those lines back through
the patterns below into catalogue keys (``compute.why.*``). A line no pattern knows is shown as
it is, so a new engine message is never hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from mingyue.i18n import t

Translate = Callable[..., str]

# One matcher/dispatcher/runner sentence → (catalogue key, names of its groups); a group named
# ``why`` is itself a reason (translated again), ``start`` a wait, ``at`` a time.
_PARTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), k)
    for p, k in (
        (r"^pool (?P<pool>\S+): (?P<cost>¥[\d,.]+), start (?P<start>.+)$", "compute.why.candidate"),
        (r"^pool (?P<pool>\S+) rejected: (?P<why>.+)$", "compute.why.rejected"),
        (r"^pool (?P<pool>\S+): maintenance until (?P<at>\S+)$", "compute.why.maintenance"),
        (r"^pool (?P<pool>\S+): CPUs reserved until (?P<at>\S+)$", "compute.why.reserved"),
        (
            r"^pool (?P<pool>\S+): engine down at dispatch \((?P<detail>.*)\)$",
            "compute.why.down_at_dispatch",
        ),
        (r"^pool (?P<pool>\S+) refused it: (?P<detail>.*)$", "compute.why.refused"),
        (
            r"^pool (?P<pool>\S+) never received it \(.*\); dispatching it again$",
            "compute.why.redispatch",
        ),
        (r"^no pools$", "compute.why.no_pools"),
        (r"^suspended$", "compute.why.suspended"),
        (r"^not enabled for this organization$", "compute.why.not_enabled"),
        (r"^needs (?P<n>\d+) CPUs, has (?P<has>\d+)$", "compute.why.cpus"),
        (r"^needs (?P<n>\d+)× (?P<model>\S+), has (?P<has>\d+)$", "compute.why.gpu_count"),
        (r"^needs (?P<n>\d+) GPUs of one model, has (?P<has>\d+)$", "compute.why.gpus"),
        (r"^no (?P<model>\S+)$", "compute.why.no_gpu"),
        (r"^needs (?P<n>\d+) MB memory, has (?P<has>\d+)$", "compute.why.memory"),
        (
            r"^run time (?P<n>\d+) s over the pool maximum (?P<has>\d+) s$",
            "compute.why.runtime",
        ),
        (r"^no container runtime$", "compute.why.no_container"),
        (r"^Ray pools run batch jobs, not reservations$", "compute.why.ray_reservation"),
        (r"^Slurm reserves whole minutes$", "compute.why.slurm_minutes"),
        (r"^engine down \((?P<detail>.*)\)$", "compute.why.engine_down"),
        (r"^maintenance during the reservation$", "compute.why.maintenance_slot"),
        (
            r"^(?P<n>\d+) of (?P<has>\d+) CPUs already reserved in that slot$",
            "compute.why.slot_taken",
        ),
        (r"^(?P<cost>¥[\d,.]+) over max price (?P<max>¥[\d,.]+)$", "compute.why.max_price"),
        (r"^start (?P<start>.+) misses the deadline$", "compute.why.deadline"),
        (r"^cancelled by request$", "compute.why.cancelled"),
        (r"^cancelled before dispatch$", "compute.why.cancelled_early"),
        (r"^time limit reached \((?P<n>\d+) s\)$", "compute.why.time_limit"),
        (r"^CPU time limit reached \(SIGXCPU\)$", "compute.why.cpu_limit"),
        (r"^killed by signal (?P<signal>\S+)$", "compute.why.signal"),
        (r"^the container runtime could not run it \(exit code 125\)$", "compute.why.container"),
        (r"^exit code (?P<n>-?\d+)$", "compute.why.exit_code"),
        (
            r"^waiting: every pool that can run it is down, in maintenance or reserved; "
            r"the reconciler retries$",
            "compute.why.waiting",
        ),
    )
)
_WAIT = re.compile(r"^≈ (?P<n>[\d.]+) (?P<unit>s|min|h)$")
_WAIT_KEYS = {"s": "compute.why.wait_s", "min": "compute.why.wait_min", "h": "compute.why.wait_h"}
# The explanation joins its parts with "; "; the waiting reason has one inside its own text.
_SPLIT = re.compile(r"; (?=pool |no pools$)")

RUNTIME_UNITS: tuple[tuple[str, int], ...] = (("s", 1), ("min", 60), ("h", 3600))


def _wait(text: str, locale: str) -> str:
    if text == "now":
        return t("compute.why.wait_now", locale)
    m = _WAIT.match(text)
    return t(_WAIT_KEYS[m["unit"]], locale, n=m["n"]) if m else text


def _at(text: str, locale: str, zone: Callable[[datetime], str]) -> str:
    try:
        return zone(datetime.fromisoformat(text))
    except ValueError:
        return text


def sentence(text: str, locale: str, zone: Callable[[datetime], str]) -> str:
    """Return one engine sentence in the reader's language (as it is when unknown)."""
    for pattern, key in _PARTS:
        m = pattern.match(text)
        if m is None:
            continue
        params = m.groupdict()
        if "why" in params:
            params["why"] = sentence(params["why"], locale, zone)
        if "start" in params:
            params["start"] = _wait(params["start"], locale)
        if "at" in params:
            params["at"] = _at(params["at"], locale, zone)
        return t(key, locale, **params)
    return text


def explain(text: str | None, locale: str, zone: Callable[[datetime], str]) -> list[str]:
    """Return the matcher's explanation (or a reason) as translated lines, one per pool."""
    if not text:
        return []
    return [sentence(part.strip(), locale, zone) for part in _SPLIT.split(text) if part.strip()]


def runtime(seconds: int | None, locale: str) -> str:
    """Say a run time with its unit: ``10 分钟``, ``1.5 小时``, ``45 秒``."""
    if seconds is None:
        return "—"
    if seconds >= 3600 and seconds % 360 == 0:
        n: float = seconds / 3600
        key = "compute.unit.h"
    elif seconds >= 60 and seconds % 60 == 0:
        n, key = seconds // 60, "compute.unit.min"
    else:
        n, key = seconds, "compute.unit.s"
    text = f"{n:g}" if isinstance(n, float) else str(n)
    return t(key, locale, n=text)
