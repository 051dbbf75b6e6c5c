"""Flow monitoring: log/pcap parsing, geo lookups, exact distinct counting, alerts, crash-restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dpkt
import pytest

from mingyue.enablers.crossborder.engine.checksums import id_check_char
from mingyue.enablers.crossborder.engine.flows.events import (
    CombinedParser,
    SquidParser,
    ZeekParser,
    sniff_format,
)
from mingyue.enablers.crossborder.engine.flows.geo import (
    DEBIAN_GEOIP,
    CidrTableResolver,
    LegacyDatResolver,
    MmdbResolver,
    open_resolver,
)
from mingyue.enablers.crossborder.engine.flows.monitor import (
    Batch,
    DeclaredTransfer,
    FlowMonitor,
    FlowStore,
)
from mingyue.enablers.crossborder.engine.flows.pcap import PcapError, PcapReader
from mingyue.enablers.crossborder.engine.flows.watch import watch_log, watch_pcap

KEY = b"test-key"


def rid(n: int) -> str:
    """A valid resident ID number, distinct for each n."""
    first = f"1101051990{(n // 28000) % 12 + 1:02d}{(n // 1000) % 28 + 1:02d}{n % 1000:03d}"
    return first + id_check_char(first)


def phone(n: int) -> str:
    return f"139{n:08d}"


def combined(host: str, query: str, ts: str = "10/Mar/2026:13:55:36 +0800") -> str:
    return (f'10.0.0.5 - - [{ts}] "GET http://{host}/api/v1/sync?{query} HTTP/1.1" 200 512 '
            f'"-" "curl/8.0"')  # fmt: skip


@pytest.fixture
def transfers() -> list[DeclaredTransfer]:
    return [
        DeclaredTransfer.from_dict({
            "id": "t1", "recipient": "Partner SG Pte", "country": "SG",
            "endpoints": ["api.partner.sg", "*.cdn.partner.sg", "203.0.113.0/24"],
            "categories": ["contact"], "legal_basis": "exempt",
        })
    ]  # fmt: skip


@pytest.fixture
def geo(tmp_path: Path) -> CidrTableResolver:
    f = tmp_path / "geo.csv"
    f.write_text("network,country\n198.51.100.0/24,US\n192.0.2.0/24,CN\n2001:db8::/32,DE\n")
    return CidrTableResolver(f)


def monitor(tmp_path: Path, transfers: list[DeclaredTransfer], geo: object = None) -> FlowMonitor:
    return FlowMonitor(FlowStore(tmp_path / "state.db"), transfers, hash_key=KEY, geo=geo)  # type: ignore[arg-type]


def test_parsers() -> None:
    p = CombinedParser()
    ev = p.parse(combined("api.partner.sg", "phone=13800138000"))
    assert ev is not None and ev.host == "api.partner.sg" and ev.target == "/api/v1/sync?phone=13800138000"
    assert ev.ts == 1773122136.0  # 2026-03-10 05:55:36 UTC
    assert p.parse('10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "GET /x') is None and p.bad_lines == 1
    ev = p.parse('1.2.3.4 - - [10/Mar/2026:13:55:36 +0000] "CONNECT api.partner.sg:443 HTTP/1.1" 200 0 "-" "-"')
    assert ev is not None and (ev.host, ev.port) == ("api.partner.sg", 443)
    s = SquidParser()
    ev = s.parse("1773122136.123    45 10.0.0.5 TCP_MISS/200 1024 POST http://x.example.com/u?id=1 - "
                 "HIER_DIRECT/198.51.100.7 text/html")
    assert ev is not None and ev.ip == "198.51.100.7" and ev.host == "x.example.com"
    z = ZeekParser()
    for h in ["#separator \\x09", "#path\thttp",
              "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi"]:
        assert z.header(h)
    ev = z.parse("1773122136.5\tC1\t10.0.0.5\t5555\t198.51.100.7\t80\tGET\tx.example.com\t/a?m=13800138000")
    assert ev is not None and ev.ip == "198.51.100.7" and ev.target == "/a?m=13800138000"
    assert z.parse("1.0\tonly-two") is None and z.bad_lines == 1
    ev = z.parse('{"ts": 1.5, "id.orig_h": "10.0.0.1", "id.resp_h": "198.51.100.9", "id.resp_p": 443, '
                 '"server_name": "API.X.com"}')
    assert ev is not None and ev.host == "api.x.com"
    assert sniff_format(combined("a.b", "x=1")) == "combined"
    with pytest.raises(ValueError, match="unrecognised"):
        sniff_format("garbage line")


def test_geo_resolvers(tmp_path: Path, geo: CidrTableResolver) -> None:
    assert geo.country("198.51.100.3") == "US" and geo.country("10.1.1.1") == "private"
    assert geo.country("2001:db8::5") == "DE" and geo.country("8.8.4.4") is None
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    w = mmdb_writer.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    w.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "US"}})
    w.insert_network(IPSet(["192.0.2.0/24"]), {"registered_country": {"iso_code": "CN"}})
    path = tmp_path / "c.mmdb"
    w.to_db_file(str(path))
    r = open_resolver(path)
    assert isinstance(r, MmdbResolver)
    assert r.country("198.51.100.3") == "US" and r.country("192.0.2.1") == "CN"
    assert r.country("203.0.113.1") is None and r.country("127.0.0.1") == "private"
    r.close()


def test_debian_legacy_geoip() -> None:
    if not DEBIAN_GEOIP.exists():
        pytest.skip("Debian geoip-database not installed (apt-get install geoip-database)")
    r = LegacyDatResolver()
    assert r.country("8.8.8.8") == "US"
    assert r.country("114.114.114.114") == "CN"
    assert r.country("192.168.1.1") == "private"


def test_counts_are_exact_and_hashed(tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver) -> None:
    m = monitor(tmp_path, transfers, geo)
    m.thresholds = (("pi", 5, "pi_standard_contract_threshold"), ("sensitive", 3, "sensitive_security_assessment_threshold"))
    p = CombinedParser()
    batch = Batch()
    for i in range(8):
        m.add(batch, p.parse(combined("api.partner.sg", f"phone={phone(i)}")))  # type: ignore[arg-type]
        m.add(batch, p.parse(combined("x.cdn.partner.sg", f"phone={phone(i)}&n=2")))  # type: ignore[arg-type]
    for i in range(4):
        m.add(batch, p.parse(combined("api.partner.sg", f"id={rid(i)}&phone={phone(100 + i)}")))  # type: ignore[arg-type]
    alerts = m.commit(batch)
    counts = m.store.counts()
    assert counts[("Partner SG Pte", 2026, "pi")] == 12  # 8 phones + 4 people keyed by their ID
    assert counts[("Partner SG Pte", 2026, "sensitive")] == 4
    assert {a.kind for a in alerts} == {"pi_standard_contract_threshold", "sensitive_security_assessment_threshold"}
    a = next(a for a in alerts if a.kind == "sensitive_security_assessment_threshold")
    assert a.detail["covered_by_declaration"] is False and a.detail["required_path"] == "security_assessment"
    # Nothing raw in the store.
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    assert phone(1) not in dump and rid(1) not in dump
    # Re-adding the same people changes nothing and raises no second alert.
    batch = Batch()
    for i in range(8):
        m.add(batch, p.parse(combined("api.partner.sg", f"phone={phone(i)}")))  # type: ignore[arg-type]
    assert m.commit(batch) == []
    assert m.store.counts()[("Partner SG Pte", 2026, "pi")] == 12


def test_undeclared_overseas_endpoint(tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver) -> None:
    m = monitor(tmp_path, transfers, geo)
    s = SquidParser()
    batch = Batch()
    line = "1773122136.1 5 10.0.0.5 TCP_MISS/200 99 POST http://evil.example/u?m={m} - HIER_DIRECT/{ip} -"
    m.add(batch, s.parse(line.format(m="13800138000", ip="198.51.100.7")))  # type: ignore[arg-type]
    m.add(batch, s.parse(line.format(m="13800138001", ip="192.0.2.7")))  # type: ignore[arg-type] # CN
    m.add(batch, s.parse(line.format(m="13800138002", ip="10.0.0.9")))  # type: ignore[arg-type]  # private
    alerts = m.commit(batch)
    assert [(a.kind, a.detail["country"]) for a in alerts if a.kind.startswith("undeclared")] == [
        ("undeclared_overseas_endpoint", "US")
    ]
    obs = m.store.observed()
    assert [(o["recipient"], o["declared"]) for o in obs] == [("undeclared:evil.example", 0)]


def _write_pcap(path: Path, body_parts: list[bytes], truncate: bool = False) -> None:
    with path.open("wb") as fp:
        w = dpkt.pcap.Writer(fp)
        src, dst = bytes([10, 0, 0, 5]), bytes([198, 51, 100, 7])

        def pkt(seq: int, data: bytes, flags: int = dpkt.tcp.TH_ACK) -> bytes:
            tcp = dpkt.tcp.TCP(sport=40000, dport=80, seq=seq, flags=flags, data=data)
            ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp)
            ip.len = len(bytes(ip))
            return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip))

        w.writepkt(pkt(1000, b"", dpkt.tcp.TH_SYN), ts=1773122136.0)
        seq = 1001
        body = b"".join(body_parts)
        head = (b"POST /upload HTTP/1.1\r\nHost: api.partner.sg\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        segments = [head + body_parts[0], *body_parts[1:]]
        for i, seg in enumerate(segments):
            w.writepkt(pkt(seq, seg), ts=1773122136.1 + i)
            if i == 0:
                w.writepkt(pkt(seq, seg), ts=1773122136.15)  # a retransmission
            seq += len(seg)
        w.writepkt(pkt(seq, b"", dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK), ts=1773122139.0)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data + data[24:40] + b"\x00" * 5)


def test_pcap_http_body_reassembled(tmp_path: Path, transfers: list[DeclaredTransfer]) -> None:
    f = tmp_path / "cap.pcap"
    _write_pcap(f, [f'{{"id":"{rid(1)}",'.encode(), f'"phone":"{phone(1)}"}}'.encode()])
    events = [e for e, _, _ in PcapReader(f).read() if e is not None]
    assert len(events) == 1 and events[0].host == "api.partner.sg" and rid(1).encode() in events[0].body  # type: ignore[operator]
    m = monitor(tmp_path, transfers)
    prog = watch_pcap(m, f)
    assert prog.events == 1 and m.store.counts()[("Partner SG Pte", 2026, "sensitive")] == 1
    assert watch_pcap(m, f).events == 1  # resumed at the end: nothing new, nothing doubled
    g = tmp_path / "bad.pcap"
    _write_pcap(g, [b"{}"], truncate=True)
    (tmp_path / "x").mkdir()
    m2 = monitor(tmp_path / "x", transfers)
    with pytest.raises(PcapError, match="truncated packet at byte"):
        watch_pcap(m2, g)
    assert m2.store.checkpoint(str(g.resolve())).lines == 4  # type: ignore[union-attr]
    h = tmp_path / "junk.pcap"
    h.write_bytes(os.urandom(100))
    with pytest.raises(PcapError, match="not a pcap"):
        PcapReader(h)


def test_log_watch_truncated_line_and_rotation(tmp_path: Path, transfers: list[DeclaredTransfer]) -> None:
    log = tmp_path / "access.log"
    lines = [combined("api.partner.sg", f"phone={phone(i)}") for i in range(50)]
    log.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe bad\n" + lines[0][:30].encode())
    m = monitor(tmp_path, transfers)
    prog = watch_log(m, log, follow=False, finish=False)
    assert (prog.lines, prog.bad_lines, prog.events) == (51, 1, 50)  # partial line left unread
    prog = watch_log(m, log)  # finish: the truncated tail is counted as bad, once
    assert (prog.lines, prog.bad_lines, prog.events) == (52, 2, 50)
    assert m.store.counts()[("Partner SG Pte", 2026, "pi")] == 50
    log.unlink()
    log.write_text(combined("api.partner.sg", f"phone={phone(999)}") + "\n")  # rotated: new inode
    prog = watch_log(m, log)
    assert prog.lines == 1 and m.store.counts()[("Partner SG Pte", 2026, "pi")] == 51


CHILD = textwrap.dedent("""
    import sys
    from mingyue.enablers.crossborder.engine.flows.monitor import DeclaredTransfer, FlowMonitor, FlowStore
    from mingyue.enablers.crossborder.engine.flows.watch import watch_log
    t = DeclaredTransfer.from_dict({"id": "t1", "recipient": "R", "country": "SG", "endpoints": ["api.partner.sg"]})
    m = FlowMonitor(FlowStore(sys.argv[1]), [t], hash_key=b"test-key")
    watch_log(m, sys.argv[2], batch_lines=int(sys.argv[3]), follow=True, poll_s=0.05)
""")


def test_watcher_survives_sigkill_without_double_counting(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    n = 30_000
    with log.open("w") as fp:
        for i in range(n):
            fp.write(combined("api.partner.sg", f"phone={phone(i % 20_000)}") + "\n")
    db = tmp_path / "state.db"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    kills = 0
    for _attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(log), "500"], env=env)
        deadline = time.time() + 60
        try:
            while time.time() < deadline:
                time.sleep(0.02)
                if db.exists():
                    try:
                        row = sqlite3.connect(db, timeout=5).execute("SELECT lines FROM sources").fetchone()
                    except sqlite3.OperationalError:
                        row = None
                    if row and row[0] > 0:
                        break
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        row = sqlite3.connect(db).execute("SELECT lines FROM sources").fetchone()
        if row and row[0] >= n:
            break
    # Restart once more and finish.
    from mingyue.enablers.crossborder.engine.flows.monitor import DeclaredTransfer as DT

    t = DT.from_dict({"id": "t1", "recipient": "R", "country": "SG", "endpoints": ["api.partner.sg"]})
    m = FlowMonitor(FlowStore(db), [t], hash_key=KEY)
    prog = watch_log(m, log, batch_lines=500)
    assert kills >= 1
    assert prog.lines == n and prog.events == n and prog.bad_lines == 0
    assert m.store.counts()[("R", 2026, "pi")] == 20_000
    obs = m.store.observed()
    assert sum(o["events"] for o in obs) == n  # event counters not doubled either
