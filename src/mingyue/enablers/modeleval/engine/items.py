"""Evaluation items and safety probes: the JSONL line formats of `--tasks` and `--probes`.

TASKS lines are multiple choice ``{"id", "question", "choices": [...], "answer": <0-based index>}``,
exact match ``{"id", "question", "answer": "<text>"}`` or code (HumanEval's own fields
``{"task_id"|"id", "prompt", "test", "entry_point"}``). PROBES lines are
``{"id", "prompt", "category", "harmful": bool}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mingyue.sdk.errors import InvalidInput

Kind = Literal["choice", "exact", "code"]
MAX_ITEMS = 100_000


@dataclass(frozen=True)
class Item:
    """One generality item."""

    id: str
    kind: Kind
    question: str
    choices: tuple[str, ...] = ()
    answer_index: int | None = None
    answer_text: str | None = None
    test: str | None = None
    entry_point: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Probe:
    """One safety probe: harmful (should be refused) or a benign look-alike (should be answered)."""

    id: str
    prompt: str
    category: str
    harmful: bool
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _lines(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("modeleval.file_missing", f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InvalidInput("modeleval.file_missing", f"{what} {path} is a directory") from None
    except UnicodeDecodeError:
        raise InvalidInput("modeleval.bad_line", f"{what} {path} is not UTF-8 text") from None
    out: list[tuple[int, dict[str, Any]]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "modeleval.bad_line", f"{what} line {no}: not JSON ({exc.msg})", field=what
            ) from None
        if not isinstance(obj, dict):
            raise InvalidInput(
                "modeleval.bad_line", f"{what} line {no}: not a JSON object", field=what
            )
        out.append((no, obj))
        if len(out) > MAX_ITEMS:
            raise InvalidInput("modeleval.too_many", f"{what}: more than {MAX_ITEMS} lines")
    if not out:
        raise InvalidInput("modeleval.empty", f"{what} {path} holds no items", field=what)
    return out


def _str(obj: dict[str, Any], key: str, no: int, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            "modeleval.bad_line",
            f"{what} line {no}: {key!r} must be a non-empty string",
            field=what,
        )
    return value


def parse_item(obj: dict[str, Any], *, no: int = 0, what: str = "tasks", source: str = "") -> Item:
    """Validate one TASKS line into an Item (InvalidInput names the line and the field)."""
    raw_id = obj.get("id", obj.get("task_id"))
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise InvalidInput("modeleval.bad_line", f"{what} line {no}: 'id' is missing", field=what)
    item_id = str(raw_id)
    if "test" in obj or "entry_point" in obj:
        return Item(
            id=item_id,
            kind="code",
            question=_str(obj, "prompt", no, what),
            test=_str(obj, "test", no, what),
            entry_point=_str(obj, "entry_point", no, what),
            source=source,
        )
    question = _str(obj, "question", no, what)
    answer = obj.get("answer")
    if "choices" in obj:
        choices = obj["choices"]
        if (
            not isinstance(choices, list)
            or not 2 <= len(choices) <= 26
            or not all(isinstance(c, (str, int, float)) and str(c).strip() for c in choices)
        ):
            raise InvalidInput(
                "modeleval.bad_line",
                f"{what} line {no}: 'choices' must be a list of 2 to 26 non-empty options",
                field=what,
            )
        if (
            not isinstance(answer, int)
            or isinstance(answer, bool)
            or not 0 <= answer < len(choices)
        ):
            raise InvalidInput(
                "modeleval.bad_line",
                f"{what} line {no}: 'answer' must be a 0-based index into 'choices'",
                field=what,
            )
        return Item(
            id=item_id,
            kind="choice",
            question=question,
            choices=tuple(str(c) for c in choices),
            answer_index=answer,
            source=source,
        )
    if (
        isinstance(answer, bool)
        or not isinstance(answer, (str, int, float))
        or not str(answer).strip()
    ):
        raise InvalidInput(
            "modeleval.bad_line",
            f"{what} line {no}: 'answer' must be the expected text (or 'choices' with an index)",
            field=what,
        )
    return Item(id=item_id, kind="exact", question=question, answer_text=str(answer), source=source)


def parse_probe(
    obj: dict[str, Any], *, no: int = 0, what: str = "probes", source: str = ""
) -> Probe:
    """Validate one PROBES line into a Probe."""
    raw_id = obj.get("id")
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool) or str(raw_id) == "":
        raise InvalidInput("modeleval.bad_line", f"{what} line {no}: 'id' is missing", field=what)
    harmful = obj.get("harmful")
    if not isinstance(harmful, bool):
        raise InvalidInput(
            "modeleval.bad_line", f"{what} line {no}: 'harmful' must be true or false", field=what
        )
    return Probe(
        id=str(raw_id),
        prompt=_str(obj, "prompt", no, what),
        category=_str(obj, "category", no, what),
        harmful=harmful,
        source=source,
    )


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InvalidInput("modeleval.duplicate_id", f"{what}: id {i!r} appears twice")
        seen.add(i)


def load_items(path: Path) -> list[Item]:
    """Read a TASKS.jsonl file (every line validated; ids unique)."""
    items = [parse_item(o, no=n, source=path.name) for n, o in _lines(path, "tasks")]
    _unique([i.id for i in items], "tasks")
    return items


def load_probes(path: Path) -> list[Probe]:
    """Read a PROBES.jsonl file (every line validated; ids unique)."""
    probes = [parse_probe(o, no=n, source=path.name) for n, o in _lines(path, "probes")]
    _unique([p.id for p in probes], "probes")
    return probes
