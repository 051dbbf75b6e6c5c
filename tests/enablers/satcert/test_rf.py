"""RF/protocol result import: limits, tolerances, units, and exports that must be refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mingyue.enablers.satcert.engine import rf
from mingyue.sdk.errors import InvalidInput, PayloadTooLarge

LIMITS: list[dict[str, Any]] = [
    # TS 38.521-5 style rows as a lab would enter them (the values are the lab's, not shipped).
    {"clause": "6.2.1", "parameter": "pmax", "unit": "dBm", "min": 20, "max": 25, "tolerance": 0.7},
    {"clause": "6.4.1", "parameter": "freq_error", "unit": "ppm", "min": -0.1, "max": 0.1},
    {"clause": "6.5.2", "parameter": "aclr", "unit": "dB", "min": 30, "tolerance": 0.8},
    {"clause": "6.3.2", "unit": "dBm", "max": -40, "tolerance": 1.0, "rule": "relaxed"},
]

CSV = """# Instrument: CMX500 export
# Date: 2026-12-01
Test Case,Parameter,Measured,Unit
6.2.1,pmax,23.0,dBm
6.4.1,freq_error,0.05 ppm,
6.5.2,aclr,30.5,dB
6.3.2,,-39.5,dBm
9.9.9,other,1,dB
"""


def test_csv_verdicts_with_tolerance_and_rules() -> None:
    report = rf.import_results(
        CSV.encode(),
        filename="cmx.csv",
        limits=LIMITS,
        standard="3GPP TS 38.521-5",
        max_bytes=1 << 20,
    )
    by = {v.clause: v for v in report.verdicts}
    assert by["6.2.1"].verdict == "pass"  # 2.0 dB inside, more than the 0.7 dB tolerance
    assert by["6.4.1"].verdict == "pass"
    assert by["6.5.2"].verdict == "inconclusive"  # 0.5 dB above the minimum, within 0.8 dB
    assert by["6.3.2"].verdict == "pass"  # relaxed: -39.5 <= -40 + 1.0
    assert report.unmatched == 1 and report.verdict == "inconclusive"


def test_units_convert_and_fail() -> None:
    limits = [{"clause": "6.2.1", "unit": "dBm", "max": 23, "tolerance": 0.5}]
    data = b"clause;value;unit\n6.2.1;0,5;W\n"  # 0.5 W = 26.99 dBm, decimal comma with ';'
    report = rf.import_results(
        data, filename="x.csv", limits=limits, standard="TS 36.521-1", max_bytes=1 << 20
    )
    v = report.verdicts[0]
    assert v.verdict == "fail" and v.measured == pytest.approx(26.9897, abs=1e-3)
    bad_unit = b"clause,value,unit\n6.2.1,3,MHz\n"
    report = rf.import_results(
        bad_unit, filename="x.csv", limits=limits, standard="s", max_bytes=1 << 20
    )
    assert report.verdicts[0].verdict == "inconclusive" and "unit" in report.verdicts[0].reason


def test_xml_export() -> None:
    xml = b"""<?xml version="1.0"?>
<Results standard="3GPP TS 38.521-5">
  <TestCase id="6.2.1"><Measurement name="pmax" unit="dBm" value="26.1"/></TestCase>
  <Result clause="6.4.1" parameter="freq_error" unit="ppm">0.02</Result>
</Results>"""
    report = rf.import_results(
        xml, filename="r.xml", limits=LIMITS[:2], standard="s", max_bytes=1 << 20
    )
    assert [v.verdict for v in report.verdicts] == ["fail", "pass"] and report.verdict == "fail"


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [
        (
            b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>
<r><Result clause="6.2.1">&b;</Result></r>""",
            "bomb.xml",
            "DTD",
        ),
        (
            b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r><Result clause="6.2.1">&x;</Result></r>""",
            "xxe.xml",
            "DTD",
        ),
        (b"<r><Result clause='6.2.1'>1</Result>", "cut.xml", "malformed"),
        (b"<r><Result>1</Result></r>", "noclause.xml", "no clause"),
        (b"clause,value\n6.2.1,abc\n", "x.csv", "not a number"),
        (b"foo,bar\n1,2\n", "x.csv", "no header"),
        (b'clause,value\n6.2.1,"unterminated\n', "x.csv", "csv"),
        (b"\x00\x01binary", "x.csv", "binary"),
    ],
)
def test_bad_exports_are_refused(data: bytes, name: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        rf.import_results(data, filename=name, limits=LIMITS, standard="s", max_bytes=1 << 20)
    assert needle.lower() in str(err.value).lower(), str(err.value)


def test_oversized_export_and_bad_limits() -> None:
    with pytest.raises(PayloadTooLarge):
        rf.import_results(CSV.encode(), filename="x.csv", limits=LIMITS, standard="s", max_bytes=10)
    for limits, field in (
        ([], "limits"),
        ([{"clause": "6.2.1", "unit": "dBm"}], "limits[0].min"),
        ([{"clause": "6.2.1", "unit": "dBm", "min": 5, "max": 1}], "limits[0].max"),
        ([{"clause": "6.2.1", "unit": "dBm", "max": 1, "tolerance": -1}], "limits[0].tolerance"),
        ([{"clause": "6.2.1", "unit": "dBm", "max": 1, "rule": "lenient"}], "limits[0].rule"),
    ):
        with pytest.raises(InvalidInput) as err:
            rf.parse_limits(limits)
        assert err.value.field == field


def test_import_api_stores_and_refuses(client, tenants) -> None:
    sid = client.post(
        "/api/satcert/samples",
        json={"manufacturer": "M", "model": "RF-1"},
        headers=tenants.a.headers(),
    ).json()["id"]
    lab = tenants.operator.headers()
    url = f"/api/satcert/samples/{sid}/imports"
    form = {"limits": json.dumps(LIMITS), "standard": "3GPP TS 38.521-5", "kind": "rf"}
    r = client.post(url, data=form, files={"file": ("cmx.csv", CSV.encode())}, headers=lab)
    assert r.status_code == 201, r.text
    assert r.json()["verdict"] == "inconclusive" and r.json()["counts"]["pass"] == 3
    bomb = b'<!DOCTYPE r [<!ENTITY a "x">]><r/>'
    r = client.post(url, data=form, files={"file": ("b.xml", bomb)}, headers=lab)
    assert r.status_code == 422 and "DTD" in r.json()["detail"], r.text
    r = client.post(
        url, data={**form, "limits": "[{"}, files={"file": ("c.csv", CSV.encode())}, headers=lab
    )
    assert r.status_code == 422 and r.json()["field"] == "limits"
    # The maker cannot import results, nor can another enterprise see them.
    r = client.post(
        url, data=form, files={"file": ("c.csv", CSV.encode())}, headers=tenants.a.headers()
    )
    assert r.status_code == 403
    assert client.get(url, headers=tenants.b.headers()).status_code == 404
    assert len(client.get(url, headers=tenants.a.headers()).json()) == 1
