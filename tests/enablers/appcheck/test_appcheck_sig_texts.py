"""HAP/IPA signature problems in words: every problem and warning key the signature engines can
emit has a zh_CN and an en text, and the report page and its PDF view show a failed signature's
problems in the reader's language, never as engine keys."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

from mingyue.enablers import appcheck
from mingyue.enablers.appcheck.pdf import extract_text

from .test_appcheck_hapsig import sign_hap, unsigned_hap

PKG = Path(appcheck.__file__).parent
ENGINE = PKG / "engine"
SOURCES = [*sorted((ENGINE / "bundlesig").glob("*.py")), ENGINE / "hap.py", ENGINE / "ipa.py"]
_KEY = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")


def _str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _KEY.match(node.value):
        return node.value
    return None


def engine_keys() -> tuple[set[str], set[str]]:
    """Read the problem and warning keys out of the engines' source (every way they emit one)."""
    problems: set[str] = set()
    warnings: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                args = node.args
                if name in ("_Fail", "CodeSignError", "add") and args and _str(args[0]):
                    problems.add(str(_str(args[0])))
                elif name == "_add" and len(args) > 1 and _str(args[1]):
                    problems.add(str(_str(args[1])))
                elif name == "warn" and args and _str(args[0]):
                    warnings.add(str(_str(args[0])))
                elif name == "append" and args and isinstance(func, ast.Attribute):
                    target = ast.unparse(func.value)
                    first = args[0]
                    if isinstance(first, ast.Tuple) and first.elts and _str(first.elts[0]):
                        problems.add(str(_str(first.elts[0])))
                    elif _str(first) and "warning" in target:
                        warnings.add(str(_str(first)))
                    elif _str(first) and "problem" in target:
                        problems.add(str(_str(first)))
            elif isinstance(node, ast.Assign):
                names = {getattr(t, "id", "") for t in node.targets}
                if names & {"SLOT_KEYS", "SCHEMES"} and isinstance(node.value, ast.Dict):
                    for v in node.value.values:
                        elts = v.elts if isinstance(v, (ast.Set, ast.List, ast.Tuple)) else [v]
                        problems |= {k for e in elts if (k := _str(e))}
                for t in node.targets:  # out.problem, out.detail = "key", "…"
                    if (
                        isinstance(t, ast.Tuple)
                        and t.elts
                        and ast.unparse(t.elts[0]).endswith(".problem")
                        and isinstance(node.value, ast.Tuple)
                        and (k := _str(node.value.elts[0]))
                    ):
                        problems.add(k)
    return problems, warnings


def _catalogue(locale: str) -> dict[str, str]:
    with (PKG / "i18n" / f"{locale}.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_every_signature_key_has_both_texts() -> None:
    problems, warnings = engine_keys()
    # the reader finds them all: HAP, Mach-O, CMS, seal, profile and the bundle check of hap.py
    assert {"content_digest_mismatch", "code_page_hash_mismatch", "cms_signature_invalid"} <= (
        problems
    )
    assert {"resource_modified", "macho_malformed", "profile_bundle_mismatch"} <= problems
    assert {"nested_code_not_checked", "sign_block_version_magic_mismatch"} <= warnings
    assert len(problems) >= 35 and len(warnings) >= 7
    zh, en = _catalogue("zh_CN"), _catalogue("en")
    for prefix, keys in (("appcheck.sig.", problems), ("appcheck.sigwarn.", warnings)):
        for k in sorted(keys):
            key = prefix + k
            assert key in zh and key in en, key
            assert re.search(r"[\u4e00-\u9fff]", zh[key]), key
            assert zh[key] != en[key] and k not in en[key], key


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/appcheck").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_report_shows_a_failed_signature_in_words(client: Any, tenants: Any, run_jobs: Any) -> None:
    raw = bytearray(sign_hap(unsigned_hap()))
    pos = raw.find(b"\x01" * 2048)
    raw[pos + 100] = 0x02  # one changed byte: the content digest no longer matches
    csrf = _login(client, tenants.a.member.username)
    key = re.search(r'name="form_key" value="([^"]+)"', client.get("/appcheck").text)
    assert key
    form = {"csrf_token": csrf, "form_key": key.group(1), "app_type": "news"}
    files = {"file": ("tampered.hap", bytes(raw), "application/zip")}
    r = client.post("/appcheck/scans", data=form, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    run_jobs()
    zh = client.get(r.headers["location"] + "?lang=zh_CN").text
    row = zh.split('data-rule="SEC_SIGNATURE_INVALID"')[1].split("</tr>")[0]
    assert "签名校验未通过：安装包内容摘要不符（内容被改动）" in row
    en = client.get(r.headers["location"] + "?lang=en").text
    row = en.split('data-rule="SEC_SIGNATURE_INVALID"')[1].split("</tr>")[0]
    assert "The package content digest differs (contents modified)" in row
    for page in (zh, en):
        assert "content_digest_mismatch" not in page
    scan_id = r.headers["location"].rstrip("/").rsplit("/", 1)[1]
    pdf = client.get(f"/api/appcheck/scans/{scan_id}/report.pdf", headers=tenants.a.headers())
    assert pdf.status_code == 200, pdf.text
    text = extract_text(pdf.content).replace("\n", "")
    assert "安装包内容摘要不符" in text and "content_digest_mismatch" not in text
