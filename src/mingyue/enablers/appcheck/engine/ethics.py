"""Algorithm-ethics review (算法伦理审查): static signals of a package and its questionnaire.

Pure: a scan report and the package's texts (:func:`.listing.package_texts`) give the signals of
``rules/ethics_rules.yaml`` (recommendation / A/B-testing / face-editing / generative SDKs, strings
of a personalisation switch or an AI-content label); the questionnaire covers what code cannot
show, each question citing its article. :func:`assess` joins both into one result per question.
"""

from __future__ import annotations

import re
from typing import Any

from .listing import FAIL, NEEDS_EVIDENCE, PASS, PackageTexts, load_rules

ANSWERS = ("yes", "no", "na")


def signals(
    report: dict[str, Any], texts: PackageTexts, rules: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the static signals: ``{"sdk": {kind: [evidence]}, "strings": {name: [snippets]}}``."""
    rules = rules or load_rules("ethics_rules.yaml")
    sdk_names = [str(s.get("name", "")) for s in report.get("sdks", [])]
    sdk_out: dict[str, list[str]] = {}
    for kind, spec in rules["signals"].items():
        ev: list[str] = []
        name_rx = re.compile(str(spec["sdk"]), re.IGNORECASE)
        ev += [f"SDK: {n}" for n in sdk_names if name_rx.search(n)]
        pkg_rx = re.compile(str(spec["packages"]))
        ev += [f"code: {p}" for p in sorted(texts.packages) if pkg_rx.search(p)][:5]
        if ev:
            sdk_out[kind] = ev[:8]
    str_out: dict[str, list[str]] = {}
    for name, pattern in rules["strings"].items():
        hits = texts.search(str(pattern), 3)
        if hits:
            str_out[name] = hits
    return {"sdk": sdk_out, "strings": str_out, "in_scope": bool(sdk_out)}


def questions(rules: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Return the questionnaire (id, zh, en, citation, optional signal)."""
    rules = rules or load_rules("ethics_rules.yaml")
    return [dict(q) for q in rules["questions"]]


def assess(
    sig: dict[str, Any],
    answers: dict[str, dict[str, str]],
    rules: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Judge each question from its static signal and the operator's answer.

    ``answers``: ``{question_id: {"answer": "yes"|"no"|"na", "note": str}}``. A "no" fails; a
    "yes" passes when the package shows the signal the question names, or when the question has
    no static signal; a "yes" the package does not show, or no answer, needs evidence; "na"
    (not applicable) passes with the operator's reason.
    """
    out: list[dict[str, Any]] = []
    strings = sig.get("strings") or {}
    for q in questions(rules):
        qid = str(q["id"])
        ans = answers.get(qid) or {}
        answer = ans.get("answer", "")
        note = ans.get("note", "")
        shown = strings.get(str(q.get("signal") or ""), [])
        evidence = [f"安装包 / package: {s}" for s in shown]
        if note:
            evidence.append(f"运营者说明 / operator: {note}")
        if answer == "no":
            result = FAIL
        elif answer == "na":
            result = PASS if note else NEEDS_EVIDENCE
        elif answer == "yes":
            result = PASS if (shown or not q.get("signal")) else NEEDS_EVIDENCE
        else:
            result = NEEDS_EVIDENCE
        out.append(
            {
                "id": qid,
                "result": result,
                "answer": answer,
                "evidence": evidence,
                "zh": q["zh"],
                "en": q["en"],
                "citation": q["citation"],
            }
        )
    return out


__all__ = ["ANSWERS", "assess", "questions", "signals"]
