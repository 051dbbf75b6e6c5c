"""The ledger and certificate pages name audit events and credential types in Chinese.

Every audit event of the core and of every enabler has an ``event.<name>`` label in the zh_CN
catalogue, and every credential type the enablers issue has a ``credential.<Type>`` one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mingyue.core.plugins import Enabler, registry
from mingyue.coreapps.credentials.certificate import type_label
from mingyue.i18n import catalogue, event_label, missing_event_labels

FINISHED = (
    "appcheck",
    "citygov",
    "compute",
    "crossborder",
    "datasandbox",
    "digitalasset",
    "modeleval",
    "policy",
    "satcert",
    "supervision",
)
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _enablers() -> dict[str, Enabler]:
    return {e.key: e for e in registry().ordered()}


def _ours(name: str) -> bool:
    return name.split(".", 1)[0] in ("core", *FINISHED)


def _issued_types(package_dir: Path) -> set[str]:
    """Return the credential types an enabler's code passes to ``issue_credential``."""
    types: set[str] = set()
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            t.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name | ast.Attribute)):
                continue
            func = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
            if func != "issue_credential":
                continue
            for kw in call.keywords:
                if kw.arg not in ("type", "types"):
                    continue
                values = kw.value.elts if isinstance(kw.value, ast.List | ast.Tuple) else [kw.value]
                for v in values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        types.add(v.value)
                    elif isinstance(v, ast.Name) and v.id in constants:
                        types.add(constants[v.id])
                    else:
                        pytest.fail(f"{path}: credential type {ast.unparse(v)} is not a constant")
    return types


def test_finished_enablers_are_installed() -> None:
    assert set(FINISHED) <= set(_enablers())


def test_every_core_and_enabler_event_has_a_chinese_label() -> None:
    assert [n for n in missing_event_labels("zh_CN") if _ours(n)] == []
    assert [n for n in missing_event_labels("en") if _ours(n)] == []


@pytest.mark.parametrize("key", FINISHED)
def test_enabler_events_read_in_chinese(key: str) -> None:
    events = sorted(_enablers()[key].audit_events)
    assert events, f"{key} declares no audit events"
    for name in events:
        label = event_label(name, "zh_CN")
        assert _HAN.search(label), f"{name}: {label!r} is not Chinese"
        assert label != event_label(name, "en")


def test_issued_credential_types_have_labels() -> None:
    issued: dict[str, set[str]] = {}
    for key in FINISHED:
        package_dir = _enablers()[key].package_dir
        assert package_dir is not None
        issued[key] = _issued_types(package_dir)
    # the enablers that sign their results as credentials are found (the scan is not empty)
    assert issued["appcheck"] == {
        "AppComplianceReport",
        "AppStoreListingReview",
        "AlgorithmEthicsReview",
    }
    assert issued["crossborder"] == {"CrossBorderFilingRecord"}
    assert issued["supervision"] == {"SupervisionDecision"}
    assert issued["satcert"] == {"TerminalCertificate"}
    zh, en = catalogue("zh_CN"), catalogue("en")
    for vc_type in set().union(*issued.values()):
        key = f"credential.{vc_type}"
        assert key in zh and key in en, key
        assert _HAN.search(type_label(vc_type, "zh_CN")), vc_type
        assert type_label(vc_type, "en") == en[key]
