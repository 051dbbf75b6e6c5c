"""Read the answers of 3GPP TS 27.007 commands: identity, registration, signal, PDP contexts.

Pure functions over response text (see :mod:`.at`); each raises ``ValueError`` naming what is
wrong with a malformed answer, so a plan can record it as a failed check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mingyue.enablers.satcert.engine.at import split_fields

# 27.007 §7.3 (+COPS) <AcT>, also used by +CREG/+CEREG/+C5GREG. Values 14–16 are the satellite
# (NTN) access technologies added in Release 17; 10–13 are terrestrial 5GCN/NG-RAN/EN-DC.
ACCESS_TECHNOLOGIES: dict[int, str] = {
    0: "GSM",
    1: "GSM Compact",
    2: "UTRAN",
    3: "GSM w/EGPRS",
    4: "UTRAN w/HSDPA",
    5: "UTRAN w/HSUPA",
    6: "UTRAN w/HSDPA and HSUPA",
    7: "E-UTRAN",
    8: "EC-GSM-IoT (A/Gb mode)",
    9: "E-UTRAN (NB-S1 mode)",
    10: "E-UTRA connected to a 5GCN",
    11: "NR connected to a 5GCN",
    12: "NG-RAN",
    13: "E-UTRA-NR dual connectivity",
    14: "satellite E-UTRAN (NB-S1 mode)",
    15: "satellite E-UTRAN (WB-S1 mode)",
    16: "satellite NG-RAN",
}
NTN_ACCESS_TECHNOLOGIES = frozenset({14, 15, 16})
# 27.007 §7.2 <stat>: registered home (1), roaming (5), SMS only (6, 7), CSFB not preferred (9, 10).
REGISTERED_STATES = frozenset({1, 5, 6, 7, 9, 10})


@dataclass(frozen=True)
class Registration:
    """A parsed +CREG/+CGREG/+CEREG/+C5GREG read response or URC."""

    kind: str  # "+CEREG"
    n: int | None  # the URC mode (read responses only)
    stat: int
    area: str | None  # <lac>/<tac>, hex without quotes
    cell: str | None  # <ci>
    act: int | None
    act_name: str | None
    registered: bool
    ntn: bool


@dataclass(frozen=True)
class SignalQuality:
    """+CSQ: received signal strength and bit error rate."""

    rssi: int
    ber: int
    rssi_dbm: int | None  # lower edge of the step; None for 99 (not known)


@dataclass(frozen=True)
class ExtendedSignal:
    """+CESQ (27.007 §8.69): each value None when the DUT reports 'not known'."""

    rxlev_dbm: int | None
    ber: int | None
    rscp_dbm: int | None
    ecno_db: float | None
    rsrq_db: float | None
    rsrp_dbm: int | None


@dataclass(frozen=True)
class PdpContext:
    """+CGDCONT read response line (27.007 §10.1.1)."""

    cid: int
    pdp_type: str
    apn: str


def _int(value: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{what} is not a number: {value!r}") from None


def _unquote(value: str) -> str:
    v = value.strip()
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v


def luhn_ok(digits: str) -> bool:
    """Tell whether a digit string passes the Luhn check (ISO/IEC 7812-1 Annex B)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def parse_imei(lines: list[str]) -> str:
    """Return the IMEI of a +CGSN answer; ValueError unless 15 digits with a valid check digit.

    3GPP TS 23.003 §6.2.1: TAC (8) + SNR (6) + check digit (Luhn, Annex B). Accepts the bare
    form (``AT+CGSN``) and the prefixed one (``AT+CGSN=1`` → ``+CGSN: "…"``).
    """
    values = [
        _unquote(ln.split(":", 1)[1] if ln.upper().startswith("+CGSN:") else ln) for ln in lines
    ]
    values = [v for v in values if v]
    if len(values) != 1:
        raise ValueError(f"expected one IMEI line, got {len(values)}")
    imei = values[0]
    if not re.fullmatch(r"\d{15}", imei):
        raise ValueError(f"IMEI must be 15 digits: {imei!r}")
    if not luhn_ok(imei):
        raise ValueError(f"IMEI check digit is wrong (Luhn): {imei}")
    return imei


def parse_text(lines: list[str], prefix: str) -> str:
    """Return the one text answer of CGMI/CGMM/CGMR (bare or ``+CGMI: …``)."""
    vals = [
        _unquote(ln.split(":", 1)[1]) if ln.upper().startswith(prefix + ":") else ln for ln in lines
    ]
    vals = [v.strip() for v in vals if v.strip()]
    if not vals:
        raise ValueError(f"no {prefix} answer")
    return " ".join(vals)


def parse_registration(line: str) -> Registration:
    """Parse a registration read response or URC (27.007 §7.2 +CREG, §10.1.22 +CEREG, §10.1.74 +C5GREG)."""
    kind, sep, rest = line.partition(":")
    kind = kind.strip().upper()
    if not sep or kind not in ("+CREG", "+CGREG", "+CEREG", "+C5GREG"):
        raise ValueError(f"not a registration line: {line!r}")
    fields = split_fields(rest)
    read_form = len(fields) >= 2 and fields[1] != "" and not fields[1].startswith('"')
    n = _int(fields[0], "<n>") if read_form else None
    tail = fields[1:] if read_form else fields
    stat = _int(tail[0], "<stat>")
    area = _unquote(tail[1]) or None if len(tail) > 1 else None
    cell = _unquote(tail[2]) or None if len(tail) > 2 else None
    act = _int(tail[3], "<AcT>") if len(tail) > 3 and tail[3] != "" else None
    if act is not None and act not in ACCESS_TECHNOLOGIES:
        raise ValueError(f"<AcT> {act} is not defined in 27.007")
    return Registration(
        kind=kind,
        n=n,
        stat=stat,
        area=area,
        cell=cell,
        act=act,
        act_name=ACCESS_TECHNOLOGIES.get(act) if act is not None else None,
        registered=stat in REGISTERED_STATES,
        ntn=act in NTN_ACCESS_TECHNOLOGIES,
    )


def csq_dbm(rssi: int) -> int | None:
    """Map a +CSQ <rssi> to dBm (27.007 §8.5: 0 → ≤ -113, 2..30 → -109..-53, 31 → ≥ -51)."""
    if rssi == 99:
        return None
    if not 0 <= rssi <= 31:
        raise ValueError(f"<rssi> {rssi} outside 0..31, 99")
    return -113 + 2 * rssi


def parse_csq(lines: list[str]) -> SignalQuality:
    """Parse ``+CSQ: <rssi>,<ber>``."""
    vals = [ln.split(":", 1)[1] for ln in lines if ln.upper().startswith("+CSQ:")]
    if len(vals) != 1:
        raise ValueError("expected one +CSQ line")
    f = split_fields(vals[0])
    if len(f) != 2:
        raise ValueError(f"+CSQ needs 2 fields, got {len(f)}")
    rssi, ber = _int(f[0], "<rssi>"), _int(f[1], "<ber>")
    if not (0 <= ber <= 7 or ber == 99):
        raise ValueError(f"<ber> {ber} outside 0..7, 99")
    return SignalQuality(rssi=rssi, ber=ber, rssi_dbm=csq_dbm(rssi))


def _step(value: int, unknown: int, top: int, base: float, step: float) -> float | None:
    if value == unknown:
        return None
    if not 0 <= value <= top:
        raise ValueError(f"{value} outside 0..{top}, {unknown}")
    return base + step * value


def parse_cesq(lines: list[str]) -> ExtendedSignal:
    """Parse ``+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>`` to the lower edge of each step."""
    vals = [ln.split(":", 1)[1] for ln in lines if ln.upper().startswith("+CESQ:")]
    if len(vals) != 1:
        raise ValueError("expected one +CESQ line")
    f = [_int(x, "+CESQ field") for x in split_fields(vals[0])]
    if len(f) != 6:
        raise ValueError(f"+CESQ needs 6 fields, got {len(f)}")
    rxlev = _step(f[0], 99, 63, -111, 1)
    ber = None if f[1] == 99 else int(_step(f[1], 99, 7, 0, 1) or 0)
    rscp = _step(f[2], 255, 96, -121, 1)
    ecno = _step(f[3], 255, 49, -24.5, 0.5)
    rsrq = _step(f[4], 255, 34, -20.0, 0.5)
    rsrp = _step(f[5], 255, 97, -141, 1)
    return ExtendedSignal(
        rxlev_dbm=None if rxlev is None else int(rxlev),
        ber=ber,
        rscp_dbm=None if rscp is None else int(rscp),
        ecno_db=ecno,
        rsrq_db=rsrq,
        rsrp_dbm=None if rsrp is None else int(rsrp),
    )


def parse_cgdcont(lines: list[str]) -> list[PdpContext]:
    """Parse ``+CGDCONT: <cid>,<PDP_type>,<APN>,…`` lines."""
    out = []
    for ln in lines:
        if not ln.upper().startswith("+CGDCONT:"):
            continue
        f = split_fields(ln.split(":", 1)[1])
        if len(f) < 3:
            raise ValueError(f"+CGDCONT line too short: {ln!r}")
        out.append(PdpContext(_int(f[0], "<cid>"), _unquote(f[1]), _unquote(f[2])))
    return out


def parse_cgact(lines: list[str]) -> dict[int, bool]:
    """Parse ``+CGACT: <cid>,<state>`` lines to {cid: active}."""
    out: dict[int, bool] = {}
    for ln in lines:
        if not ln.upper().startswith("+CGACT:"):
            continue
        f = split_fields(ln.split(":", 1)[1])
        if len(f) != 2:
            raise ValueError(f"+CGACT needs 2 fields: {ln!r}")
        state = _int(f[1], "<state>")
        if state not in (0, 1):
            raise ValueError(f"+CGACT <state> {state} is not 0 or 1")
        out[_int(f[0], "<cid>")] = state == 1
    return out
