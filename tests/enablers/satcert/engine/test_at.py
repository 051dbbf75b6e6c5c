"""AT engine: result codes, echo, URCs interleaved, CME errors, Luhn IMEI, timeouts (fake link)."""

from __future__ import annotations

from collections import deque

import pytest

from mingyue.enablers.satcert.engine import at_parse
from mingyue.enablers.satcert.engine.at import AtEngine, command_prefix, is_registration_urc
from mingyue.enablers.satcert.engine.link import LinkClosed, LoggedLink, RawLog, parse_log
from mingyue.enablers.satcert.engine.sim import VirtualClock


class FakeLink:
    """Answers each command with scripted chunks; silence advances the clock by the timeout."""

    def __init__(
        self, clock: VirtualClock, script: dict[str, list[bytes]], *, drop_on: str | None = None
    ) -> None:
        self.clock = clock
        self.script = script
        self.pending: deque[bytes] = deque()
        self.written: list[bytes] = []
        self.drop_on = drop_on
        self.dropped = False

    def write(self, data: bytes) -> None:
        if self.dropped:
            raise LinkClosed("gone")
        self.written.append(data)
        cmd = data.decode().strip()
        if cmd == self.drop_on:
            self.dropped = True
        self.pending.extend(self.script.get(cmd, []))

    def read(self, timeout: float) -> bytes:
        if self.pending:
            self.clock.t += 0.001
            return self.pending.popleft()
        if self.dropped:
            raise LinkClosed("gone")
        self.clock.t += timeout
        return b""

    def close(self) -> None:
        self.dropped = True


def engine(script: dict[str, list[bytes]], **kw: object) -> tuple[AtEngine, FakeLink, VirtualClock]:
    clock = VirtualClock()
    link = FakeLink(clock, script, drop_on=kw.pop("drop_on", None))  # type: ignore[arg-type]
    return AtEngine(link, clock=clock, **kw), link, clock  # type: ignore[arg-type]


def test_ok_with_information_lines_and_timing() -> None:
    e, link, _ = engine({"AT+CGMI": [b"\r\nMingyue Lab\r\n", b"\r\nOK\r\n"]})
    r = e.command("AT+CGMI")
    assert r.ok and r.final == "OK"
    assert r.lines == ("Mingyue Lab",)
    assert link.written == [b"AT+CGMI\r"]
    assert r.elapsed_s == pytest.approx(0.002)
    assert e.timings == [("AT+CGMI", "ok", r.elapsed_s)]


def test_echo_is_stripped_even_split_byte_by_byte() -> None:
    answer = b"AT+CGMM\r\r\nNTN-1\r\n\r\nOK\r\n"
    e, _, _ = engine({"AT+CGMM": [bytes([b]) for b in answer]})
    r = e.command("AT+CGMM")
    assert r.echoed and r.lines == ("NTN-1",) and r.ok


def test_echo_line_equal_to_answer_is_not_eaten_twice() -> None:
    e, _, _ = engine({"ATI": [b"ATI\r\r\nATI\r\n\r\nOK\r\n"]})
    r = e.command("ATI")
    assert r.echoed and r.lines == ("ATI",)


def test_urcs_interleaved_with_a_response_are_captured_with_timestamps() -> None:
    chunks = [
        b'\r\n+CEREG: 1,"1A2B","01C2D3E4",14\r\n',
        b"\r\n+CSQ: 20,99\r\n",
        b"\r\n+CIEV: 2,3\r\n",
        b"\r\nRING\r\n",
        b"\r\nOK\r\n",
    ]
    e, _, _ = engine({"AT+CSQ": chunks})
    r = e.command("AT+CSQ")
    assert r.lines == ("+CSQ: 20,99",)
    assert [u.text for u in r.urcs] == ['+CEREG: 1,"1A2B","01C2D3E4",14', "+CIEV: 2,3", "RING"]
    times = [u.t for u in r.urcs]
    assert times == sorted(times) and times[0] > 0
    assert e.urc_count == 3


def test_registration_urc_told_from_read_response_of_same_command() -> None:
    chunks = [b"\r\n+CEREG: 5\r\n", b'\r\n+CEREG: 2,1,"1A2B","01C2D3E4",14\r\n', b"\r\nOK\r\n"]
    e, _, _ = engine({"AT+CEREG?": chunks})
    r = e.command("AT+CEREG?")
    assert r.lines == ('+CEREG: 2,1,"1A2B","01C2D3E4",14',)
    assert [u.text for u in r.urcs] == ["+CEREG: 5"]
    assert is_registration_urc('+CEREG: 1,"1A2B","01C2D3E4",14')
    assert not is_registration_urc("+CEREG: 0,1")


def test_test_command_keeps_its_own_lines() -> None:
    e, _, _ = engine({"AT+CEREG=?": [b"\r\n+CEREG: (0-5)\r\n\r\nOK\r\n"]})
    assert e.command("AT+CEREG=?").lines == ("+CEREG: (0-5)",)


@pytest.mark.parametrize(
    ("final", "code", "text"),
    [
        (b"+CME ERROR: 10", 10, None),
        (b"+CME ERROR: SIM not inserted", None, "SIM not inserted"),
        (b"+CMS ERROR: 500", 500, None),
    ],
)
def test_cme_and_cms_errors(final: bytes, code: int | None, text: str | None) -> None:
    e, _, _ = engine({"AT+CPIN?": [b"\r\n" + final + b"\r\n"]})
    r = e.command("AT+CPIN?")
    assert r.status == "error" and not r.ok
    assert r.error_code == code and r.error_text == text
    assert e.urc_count == 0  # "+CME ERROR" is a final result code, not a URC


@pytest.mark.parametrize("final", ["ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"])
def test_error_finals(final: str) -> None:
    e, _, _ = engine({"ATD123;": [f"\r\n{final}\r\n".encode()]})
    r = e.command("ATD123;")
    assert r.status == "error" and r.final == final


def test_connect_is_a_final_success() -> None:
    e, _, _ = engine({"ATD*99#": [b"\r\nCONNECT 150000000\r\n"]})
    assert e.command("ATD*99#").ok


def test_timeout_is_recorded_not_hung() -> None:
    e, _, clock = engine({})
    r = e.command("AT+CGSN", timeout_s=3.0)
    assert r.status == "timeout" and r.final == ""
    assert r.elapsed_s == pytest.approx(3.0)
    assert clock.t == pytest.approx(3.0)


def test_late_answer_after_timeout_is_not_taken_for_the_next() -> None:
    e, link, _ = engine({"AT+CGSN": [], "AT": [b"\r\nOK\r\n"]})
    assert e.command("AT+CGSN", timeout_s=1).status == "timeout"
    link.pending.extend([b"\r\n861234051234568\r\n", b"\r\nOK\r\n"])  # the late answer
    r = e.command("AT")
    # the stale lines were read before AT was sent; AT's own OK is still pending
    assert e.stray == 2
    assert r.ok and r.lines == ()


def test_dropped_connection_gives_closed_then_fails_fast() -> None:
    e, link, _ = engine({"AT": [b"\r\nOK\r\n"]}, drop_on="AT+CGMR")
    assert e.command("AT").ok
    r = e.command("AT+CGMR")
    assert r.status == "closed" and e.closed
    n_written = len(link.written)
    assert e.command("AT").status == "closed"
    assert len(link.written) == n_written


def test_urc_flood_is_counted_and_bounded() -> None:
    flood = [b'\r\n+CEREG: 1,"1A2B","01C2D3E4",14\r\n'] * 5000
    e, link, _ = engine({}, max_urcs=100)
    link.pending.extend(flood)
    e.poll(1.0)
    # the wait ends on time although the DUT never stops (1 ms per chunk here, plus a bounded drain)
    assert e.now() <= 1.0 + 0.001 * 257
    assert 1000 <= e.urc_count < 5000
    assert len(e.urcs) == 100 and e.urcs_dropped == e.urc_count - 100
    e.poll(10.0)
    assert e.urc_count == 5000 and len(e.urcs) == 100


def test_urc_flood_during_a_command_keeps_the_answer() -> None:
    chunks = [b"\r\n+CIEV: 2,3\r\n"] * 3000 + [b"\r\n+CSQ: 9,99\r\n\r\nOK\r\n"]
    e, _, _ = engine({"AT+CSQ": chunks}, max_urcs=50)
    r = e.command("AT+CSQ")
    assert r.ok and r.lines == ("+CSQ: 9,99",)
    assert len(r.urcs) == 50 and e.urc_count == 3000


def test_nmea_on_the_at_port_is_routed_aside() -> None:
    gga = b"$GNGGA,043001.00,,,,,0,00,99.99,,,,,,*7A\r\n"
    e, _, _ = engine({"AT": [gga, b"\r\nOK\r\n"]})
    r = e.command("AT")
    assert r.ok and r.lines == ()
    assert e.nmea_count == 1 and e.nmea[0].text.startswith("$GNGGA")


def test_overlong_garbage_line_is_cut_and_counted() -> None:
    e, link, _ = engine({})
    link.pending.append(b"\x00" * 5000)
    e.poll(0.1)
    assert e.cut_lines >= 4


def test_raw_log_records_both_directions_and_hashes() -> None:
    clock = VirtualClock()
    log = RawLog(clock=clock, max_bytes=64)
    fake = FakeLink(clock, {"AT": [b"\r\nOK\r\n"]})
    e = AtEngine(LoggedLink(fake, log), clock=clock)
    assert e.command("AT").ok
    recs = parse_log(log.to_bytes())
    assert [d for _, d, _ in recs] == ["tx", "rx"]
    assert recs[0][2] == b"AT\r" and recs[1][2] == b"\r\nOK\r\n"
    fake.pending.append(b"x" * 100)
    e.poll(0.01)
    assert log.dropped_bytes == 100 - (64 - 9)
    assert any(d == "ev" and b"cap" in b for _, d, b in parse_log(log.to_bytes()))
    assert len(log.sha256()) == 64


def test_command_prefix() -> None:
    assert command_prefix("AT+CEREG?") == "+CEREG"
    assert command_prefix("at+cgdcont=1") == "+CGDCONT"
    assert command_prefix("ATI") is None


# -- parsers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("imei", "ok"),
    [("490154203237518", True), ("490154203237519", False), ("861234051234568", True)],
)
def test_luhn(imei: str, ok: bool) -> None:
    assert at_parse.luhn_ok(imei) is ok


def test_parse_imei_forms_and_errors() -> None:
    assert at_parse.parse_imei(["490154203237518"]) == "490154203237518"
    assert at_parse.parse_imei(['+CGSN: "490154203237518"']) == "490154203237518"
    with pytest.raises(ValueError, match="Luhn"):
        at_parse.parse_imei(["490154203237519"])
    with pytest.raises(ValueError, match="15 digits"):
        at_parse.parse_imei(["49015420323751"])
    with pytest.raises(ValueError, match="one IMEI"):
        at_parse.parse_imei([])


def test_parse_registration_read_and_urc_with_ntn_act() -> None:
    r = at_parse.parse_registration('+CEREG: 2,1,"1A2B","01C2D3E4",14')
    assert (r.n, r.stat, r.area, r.cell, r.act) == (2, 1, "1A2B", "01C2D3E4", 14)
    assert r.registered and r.ntn and r.act_name == "satellite E-UTRAN (NB-S1 mode)"
    u = at_parse.parse_registration('+CEREG: 5,"1A2B","01C2D3E4",15')
    assert u.n is None and u.stat == 5 and u.ntn and u.registered
    g = at_parse.parse_registration('+C5GREG: 1,1,"00A1","0000001F",16')
    assert g.ntn and g.act_name == "satellite NG-RAN"
    t = at_parse.parse_registration('+CREG: 2,1,"00C3","0000A13F",7')
    assert t.registered and not t.ntn
    assert not at_parse.parse_registration("+CEREG: 0,2").registered
    with pytest.raises(ValueError, match="AcT"):
        at_parse.parse_registration('+CEREG: 2,1,"1A2B","01",17')
    with pytest.raises(ValueError, match="not a registration"):
        at_parse.parse_registration("+CSQ: 1,2")


@pytest.mark.parametrize(
    ("rssi", "dbm"), [(0, -113), (1, -111), (2, -109), (30, -53), (31, -51), (99, None)]
)
def test_csq_dbm(rssi: int, dbm: int | None) -> None:
    assert at_parse.csq_dbm(rssi) == dbm


def test_parse_csq_and_cesq() -> None:
    q = at_parse.parse_csq(["+CSQ: 18,99"])
    assert (q.rssi, q.ber, q.rssi_dbm) == (18, 99, -77)
    with pytest.raises(ValueError):
        at_parse.parse_csq(["+CSQ: 40,99"])
    e = at_parse.parse_cesq(["+CESQ: 99,99,255,255,20,40"])
    assert e.rsrp_dbm == -101 and e.rsrq_db == -10.0 and e.rxlev_dbm is None and e.rscp_dbm is None
    with pytest.raises(ValueError, match="6 fields"):
        at_parse.parse_cesq(["+CESQ: 99,99"])


def test_parse_pdp() -> None:
    ctx = at_parse.parse_cgdcont(['+CGDCONT: 1,"IP","ntn.example","0.0.0.0",0,0'])
    assert ctx[0].cid == 1 and ctx[0].pdp_type == "IP" and ctx[0].apn == "ntn.example"
    assert at_parse.parse_cgact(["+CGACT: 1,1", "+CGACT: 2,0"]) == {1: True, 2: False}
    with pytest.raises(ValueError):
        at_parse.parse_cgact(["+CGACT: 1,3"])
