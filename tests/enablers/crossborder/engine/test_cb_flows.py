"""Flow monitoring: log/pcap parsing, geo lookups, exact distinct counting, alerts, crash-restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import dpkt
import pytest

from mingyue.enablers.crossborder.engine.checksums import id_check_char
from mingyue.enablers.crossborder.engine.flows.bulk import BulkReader
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
from mingyue.enablers.crossborder.engine.flows.watch import MAX_LINE, watch_log, watch_pcap

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
    assert (
        ev is not None
        and ev.host == "api.partner.sg"
        and ev.target == "/api/v1/sync?phone=13800138000"
    )
    assert ev.ts == 1773122136.0  # 2026-03-10 05:55:36 UTC
    assert p.parse('10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "GET /x') is None and p.bad_lines == 1
    ev = p.parse(
        '1.2.3.4 - - [10/Mar/2026:13:55:36 +0000] "CONNECT api.partner.sg:443 HTTP/1.1" 200 0 "-" "-"'
    )
    assert ev is not None and (ev.host, ev.port) == ("api.partner.sg", 443)
    s = SquidParser()
    ev = s.parse(
        "1773122136.123    45 10.0.0.5 TCP_MISS/200 1024 POST http://x.example.com/u?id=1 - "
        "HIER_DIRECT/198.51.100.7 text/html"
    )
    assert ev is not None and ev.ip == "198.51.100.7" and ev.host == "x.example.com"
    z = ZeekParser()
    for h in [
        "#separator \\x09",
        "#path\thttp",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi",
    ]:
        assert z.header(h)
    ev = z.parse(
        "1773122136.5\tC1\t10.0.0.5\t5555\t198.51.100.7\t80\tGET\tx.example.com\t/a?m=13800138000"
    )
    assert ev is not None and ev.ip == "198.51.100.7" and ev.target == "/a?m=13800138000"
    assert z.parse("1.0\tonly-two") is None and z.bad_lines == 1
    ev = z.parse(
        '{"ts": 1.5, "id.orig_h": "10.0.0.1", "id.resp_h": "198.51.100.9", "id.resp_p": 443, '
        '"server_name": "API.X.com"}'
    )
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


def test_counts_are_exact_and_hashed(
    tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver
) -> None:
    m = monitor(tmp_path, transfers, geo)
    m.thresholds = (
        ("pi", 5, "pi_standard_contract_threshold"),
        ("sensitive", 3, "sensitive_security_assessment_threshold"),
    )
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
    assert {a.kind for a in alerts} == {
        "pi_standard_contract_threshold",
        "sensitive_security_assessment_threshold",
    }
    a = next(a for a in alerts if a.kind == "sensitive_security_assessment_threshold")
    assert (
        a.detail["covered_by_declaration"] is False
        and a.detail["required_path"] == "security_assessment"
    )
    # Nothing raw in the store.
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    assert phone(1) not in dump and rid(1) not in dump
    # Re-adding the same people changes nothing and raises no second alert.
    batch = Batch()
    for i in range(8):
        m.add(batch, p.parse(combined("api.partner.sg", f"phone={phone(i)}")))  # type: ignore[arg-type]
    assert m.commit(batch) == []
    assert m.store.counts()[("Partner SG Pte", 2026, "pi")] == 12


def test_undeclared_overseas_endpoint(
    tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver
) -> None:
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


def test_combined_log_to_an_address_is_routed_by_that_address(
    tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver
) -> None:
    # a forward-proxy line names no peer address; when the URL's host is an address literal,
    # that address is the destination (before this, such traffic was never attributed)
    m = monitor(tmp_path, transfers, geo)
    p = CombinedParser()
    batch = Batch()
    m.add(batch, p.parse(combined("198.51.100.7", "m=13800138000")))  # type: ignore[arg-type]
    m.add(batch, p.parse(combined("[2001:db8::1]:8443", "m=13800138001")))  # type: ignore[arg-type]
    m.add(batch, p.parse(combined("192.0.2.7", "m=13800138002")))  # type: ignore[arg-type]  # CN
    alerts = m.commit(batch)
    assert sorted((a.kind, a.detail["endpoint"], a.detail["country"]) for a in alerts) == [
        ("undeclared_overseas_endpoint", "198.51.100.7", "US"),
        ("undeclared_overseas_endpoint", "2001:db8::1", "DE"),
    ]
    assert m.store.counts() == {
        ("undeclared:198.51.100.7", 2026, "pi"): 1,
        ("undeclared:2001:db8::1", 2026, "pi"): 1,
    }


def _frames(body_parts: list[bytes]) -> list[tuple[float, bytes]]:
    """Ethernet frames of one HTTP POST split over TCP segments, with a retransmission."""
    src, dst = bytes([10, 0, 0, 5]), bytes([198, 51, 100, 7])

    def pkt(seq: int, data: bytes, flags: int = dpkt.tcp.TH_ACK) -> bytes:
        tcp = dpkt.tcp.TCP(sport=40000, dport=80, seq=seq, flags=flags, data=data)
        ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp)
        ip.len = len(bytes(ip))
        return bytes(dpkt.ethernet.Ethernet(src=b"\x00" * 6, dst=b"\x01" * 6, data=ip))

    out = [(1773122136.0, pkt(1000, b"", dpkt.tcp.TH_SYN))]
    seq = 1001
    body = b"".join(body_parts)
    head = (b"POST /upload HTTP/1.1\r\nHost: api.partner.sg\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
    segments = [head + body_parts[0], *body_parts[1:]]
    for i, seg in enumerate(segments):
        out.append((1773122136.1 + i, pkt(seq, seg)))
        if i == 0:
            out.append((1773122136.15, pkt(seq, seg)))  # a retransmission
        seq += len(seg)
    out.append((1773122139.0, pkt(seq, b"", dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)))
    return out


def _write_pcap(path: Path, body_parts: list[bytes], truncate: bool = False) -> None:
    with path.open("wb") as fp:
        w = dpkt.pcap.Writer(fp)
        for ts, frame in _frames(body_parts):
            w.writepkt(frame, ts=ts)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data + data[24:40] + b"\x00" * 5)


def test_pcap_http_body_reassembled(tmp_path: Path, transfers: list[DeclaredTransfer]) -> None:
    f = tmp_path / "cap.pcap"
    _write_pcap(f, [f'{{"id":"{rid(1)}",'.encode(), f'"phone":"{phone(1)}"}}'.encode()])
    events = [e for e, _, _ in PcapReader(f).read() if e is not None]
    assert (
        len(events) == 1
        and events[0].host == "api.partner.sg"
        and rid(1).encode() in events[0].body
    )  # type: ignore[operator]
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


def test_log_watch_truncated_line_and_rotation(
    tmp_path: Path, transfers: list[DeclaredTransfer]
) -> None:
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
    watch_log(m, sys.argv[2], batch_lines=int(sys.argv[3]), follow=True, poll_s=0.05,
              workers=int(sys.argv[4]))
""")


@pytest.mark.parametrize("workers", [1, 2])
def test_watcher_survives_sigkill_without_double_counting(tmp_path: Path, workers: int) -> None:
    log = tmp_path / "access.log"
    n = 30_000
    with log.open("w") as fp:
        for i in range(n):
            fp.write(combined("api.partner.sg", f"phone={phone(i % 20_000)}") + "\n")
    db = tmp_path / "state.db"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    kills = 0
    for _attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(log), "500", str(workers)],
                                env=env)  # fmt: skip
        deadline = time.time() + 60
        try:
            while time.time() < deadline:
                time.sleep(0.02)
                if db.exists():
                    try:
                        row = (
                            sqlite3.connect(db, timeout=5)
                            .execute("SELECT lines FROM sources")
                            .fetchone()
                        )
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
    t = DeclaredTransfer.from_dict(
        {"id": "t1", "recipient": "R", "country": "SG", "endpoints": ["api.partner.sg"]}
    )
    m = FlowMonitor(FlowStore(db), [t], hash_key=KEY)
    prog = watch_log(m, log, batch_lines=500)
    assert kills >= 1
    assert prog.lines == n and prog.events == n and prog.bad_lines == 0
    assert m.store.counts()[("R", 2026, "pi")] == 20_000
    obs = m.store.observed()
    assert sum(o["events"] for o in obs) == n  # event counters not doubled either


def _per_line(
    m: FlowMonitor, text: bytes, p: CombinedParser | SquidParser | None = None
) -> tuple[int, int, Batch]:
    """The reference: a line parser line by line, as the watcher did before the bulk path."""
    p, batch, lines = p or CombinedParser(), Batch(), 0
    for raw in text.split(b"\n")[:-1]:
        lines += 1
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            p.bad_lines += 1
            continue
        if line and (ev := p.parse(line)) is not None:
            m.add(batch, ev)
    return lines, p.bad_lines, batch


def test_bulk_reader_counts_what_the_line_parser_counts(
    tmp_path: Path, transfers: list[DeclaredTransfer]
) -> None:
    ua = '"-" "Mozilla/5.0"'
    lines = [
        combined("api.partner.sg", f"phone={phone(1)}&id={rid(2)}"),
        combined("API.partner.sg:8443", f"m=%2B86%20{phone(3)}"),  # port, case, percent-encoding
        combined("x.cdn.partner.sg", "q=no-identifier"),
        f'10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "GET http://u:p@api.partner.sg/a?m={phone(4)} HTTP/1.1" 200 9 {ua}',
        f'10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "CONNECT api.partner.sg:443 HTTP/1.1" 200 - {ua}',
        f'10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "GET /local?m={phone(5)} HTTP/1.1" 200 1 {ua}',
        f'10.0.0.5 - - [10/Mar/2026:13:55:36 +0800] "GET http://api.partner.sg?m={phone(6)} HTTP/1.1" 200 1 {ua}',
        f'10.0.0.5 - - [10/Foo/2026:13:55:36 +0800] "GET http://api.partner.sg/?m={phone(7)} HTTP/1.1" 200 1 {ua}',
        f'10.0.0.5 - - [2026-03-10T13:55:36+08:00] "GET http://api.partner.sg/?m={phone(8)} HTTP/1.1" 200 1',
        "",
        "\r",
        "garbage that is not a log line",
        # New year in Shanghai falls at 21:30 in India (+0530): 21:29 is 2025, 21:30 is 2026.
        combined("api.partner.sg", f"m={phone(9)}", "31/Dec/2025:21:29:59 +0530"),
        combined("api.partner.sg", f"m={phone(10)}", "31/Dec/2025:21:30:00 +0530"),
        combined("api.partner.sg", f"m={phone(11)}", "31/Dec/2025:16:00:00 +0000") + "\r",
    ]
    text = ("\n".join(lines) + "\n").encode() + b"\xff\xfe not utf-8\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref_m = monitor(tmp_path / "a", transfers)
    bulk_m = monitor(tmp_path / "b", transfers)
    n, bad, ref = _per_line(ref_m, text)
    got = Batch()
    assert BulkReader(bulk_m).feed(text, got) == (n, bad) == (len(lines) + 1, 4)
    assert got.events == ref.events == len(lines) - 5
    assert got.observed == ref.observed
    assert {k: v for k, v in got.hashes.items()} == {k: v for k, v in ref.hashes.items()}
    years = {y for (_r, y, _k) in got.hashes}
    assert years == {2025, 2026}
    # A valid chunk without the non-UTF-8 line takes the single-decode path: same answer.
    clean = ("\n".join(lines) + "\n").encode()
    n2, bad2, ref2 = _per_line(ref_m, clean)
    got2 = Batch()
    assert BulkReader(bulk_m).feed(clean, got2) == (n2, bad2) == (len(lines), 3)
    assert got2.observed == ref2.observed and dict(got2.hashes) == dict(ref2.hashes)


def test_log_watch_skips_an_overlong_line_unread(
    tmp_path: Path, transfers: list[DeclaredTransfer]
) -> None:
    log = tmp_path / "access.log"
    good = combined("api.partner.sg", f"phone={phone(1)}")
    long_ok = combined("api.partner.sg", f"phone={phone(2)}&pad={'a' * 300_000}")
    with log.open("wb") as fp:
        fp.write((good + "\n" + long_ok + "\n").encode())
        fp.write(b"x" * (MAX_LINE + 10) + b"\n")
        fp.write((combined("api.partner.sg", f"phone={phone(3)}") + "\n").encode())
        fp.write(b"y" * (MAX_LINE + 10))  # an overlong truncated tail
    m = monitor(tmp_path, transfers)
    prog = watch_log(m, log, batch_lines=100)  # 20 KB chunks: every long line spans several
    assert (prog.lines, prog.bad_lines, prog.events) == (5, 2, 3)
    assert prog.offset == log.stat().st_size
    assert m.store.counts()[("Partner SG Pte", 2026, "pi")] == 3


def _write_pcapng(path: Path, body_parts: list[bytes]) -> list[int]:
    """A pcapng as dumpcap writes it: an Ethernet interface plus a raw-IP one with nanosecond
    timestamps (if_tsresol=9) that carries the HTTP packets, and a name-resolution block that
    readers skip. Returns the offset where each packet block starts."""
    from dpkt import pcapng as ng

    idb_eth = ng.InterfaceDescriptionBlockLE(linktype=1, snaplen=65535)
    idb_raw = ng.InterfaceDescriptionBlockLE(linktype=101, snaplen=65535, opts=[
        ng.PcapngOptionLE(code=ng.PCAPNG_OPT_IF_TSRESOL, data=b"\x09"),
        ng.PcapngOptionLE(code=ng.PCAPNG_OPT_ENDOFOPT)])  # fmt: skip
    starts = []
    with path.open("wb") as fp:
        w = ng.Writer(fp, idb=[idb_eth, idb_raw])
        fp.write(struct.pack("<II", 4, 16) + b"\x00" * 4 + struct.pack("<I", 16))  # NRB, empty
        for ts, frame in _frames(body_parts):
            ip = bytes(dpkt.ethernet.Ethernet(frame).data)
            ns = round(ts * 1e6) * 1000
            starts.append(fp.tell())
            w.writepkt(
                ng.EnhancedPacketBlockLE(
                    iface_id=1,
                    ts_high=ns >> 32,
                    ts_low=ns & 0xFFFFFFFF,
                    caplen=len(ip),
                    pkt_len=len(ip),
                    pkt_data=ip,
                )
            )
    return starts


def test_pcapng_read_resumed_and_refused_when_corrupt(
    tmp_path: Path, transfers: list[DeclaredTransfer]
) -> None:
    f = tmp_path / "capture.bin"  # the format is sniffed, not taken from the name
    starts = _write_pcapng(f, [f'{{"id":"{rid(1)}",'.encode(), f'"phone":"{phone(1)}"}}'.encode()])
    events = [e for e, _, _ in PcapReader(f).read() if e is not None]
    assert (
        len(events) == 1
        and events[0].host == "api.partner.sg"
        and rid(1).encode() in events[0].body
    )  # type: ignore[operator]
    assert events[0].ts == pytest.approx(1773122137.1, abs=1e-6)  # nanosecond units read as such
    (tmp_path / "a").mkdir()
    m = monitor(tmp_path / "a", transfers)
    prog = watch_pcap(m, f, batch_packets=1, should_stop=lambda: True)  # stop after one packet
    cp = m.store.checkpoint(str(f.resolve()))
    assert cp is not None and cp.offset == starts[1] and prog.events == 0
    prog = watch_pcap(m, f)  # resumed mid-file: interfaces re-read, nothing doubled
    assert prog.events == 1 and prog.lines == len(starts)
    assert m.store.counts()[("Partner SG Pte", 2026, "sensitive")] == 1
    assert watch_pcap(m, f).events == 1
    data = f.read_bytes()
    # Truncated inside the last packet block: the packets before it are committed, then an error.
    g = tmp_path / "cut.pcapng"
    g.write_bytes(data[: starts[-1] + 10])
    (tmp_path / "b").mkdir()
    m2 = monitor(tmp_path / "b", transfers)
    with pytest.raises(PcapError, match=f"truncated block at byte {starts[-1]}"):
        watch_pcap(m2, g)
    assert m2.store.checkpoint(str(g.resolve())).lines == len(starts) - 1  # type: ignore[union-attr]
    # A block length that cannot be, a trailing length that differs, garbage after the magic.
    h = tmp_path / "len.pcapng"
    h.write_bytes(data[: starts[2] + 4] + struct.pack("<I", 7) + data[starts[2] + 8 :])
    with pytest.raises(PcapError, match=f"corrupt block at byte {starts[2]} \\(length 7\\)"):
        list(PcapReader(h).read())
    k = tmp_path / "trail.pcapng"
    k.write_bytes(data[: starts[3] - 4] + b"\xff\xff\x00\x00" + data[starts[3] :])
    with pytest.raises(PcapError, match=f"corrupt block at byte {starts[2]} \\(trailing"):
        list(PcapReader(k).read())
    j = tmp_path / "junk.pcapng"
    j.write_bytes(b"\x0a\x0d\x0d\x0a" + os.urandom(60))
    with pytest.raises(PcapError, match=r"junk\.pcapng: corrupt"):
        list(PcapReader(j).read())


def test_log_watch_with_workers_counts_what_one_process_counts(
    tmp_path: Path, transfers: list[DeclaredTransfer]
) -> None:
    log = tmp_path / "access.log"
    with log.open("wb") as fp:
        for i in range(3000):
            fp.write(
                (
                    combined("api.partner.sg", f"phone={phone(i % 1700)}&id={rid(i % 300)}") + "\n"
                ).encode()
            )
            if i % 500 == 7:
                fp.write(b"\xff garbage\n\n")
        fp.write(b"x" * 5000 + b"\n")  # a bad line longer than a whole chunk
        fp.write(combined("api.partner.sg", f"phone={phone(9999)}").encode())  # no newline yet
    results = []
    for workers in (1, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        m = monitor(d, transfers)
        stops = iter([True])  # stop after the first committed range, then resume
        prog = watch_log(
            m,
            log,
            batch_lines=60,
            workers=workers,
            should_stop=partial(next, stops, False),
        )
        assert prog.lines < 3000
        prog = watch_log(m, log, batch_lines=60, workers=workers)
        results.append(
            (
                (prog.lines, prog.bad_lines, prog.events, prog.offset),
                m.store.counts(),
                m.store.observed(),
                [a.kind for a in prog.alerts],
            )
        )
    assert results[0] == results[1]
    (lines, bad, events, offset), counts, _obs, _alerts = results[0]
    assert (lines, bad, events, offset) == (
        3000 + 6 + 6 + 1 + 1,
        6 + 1 + 1,
        3000,
        log.stat().st_size,
    )
    assert counts[("Partner SG Pte", 2026, "sensitive")] == 300
    assert counts[("Partner SG Pte", 2026, "pi")] == 1700


def test_bulk_reader_reads_squid_native_as_the_line_parser_does(
    tmp_path: Path, transfers: list[DeclaredTransfer], geo: CidrTableResolver
) -> None:
    line = "{ts} {sp}45 10.0.0.5 TCP_MISS/200 {n} {method} {url} - {hier}/{peer} text/html"
    lines = [
        line.format(
            ts="1773122136.123",
            sp="  ",
            n=1024,
            method="GET",
            hier="HIER_DIRECT",
            peer="203.0.113.9",
            url=f"http://api.partner.sg/u?m={phone(1)}&id={rid(1)}",
        ),
        line.format(
            ts="1773122136",
            sp="\t",
            n=10,
            method="POST",
            hier="HIER_DIRECT",
            peer="198.51.100.7",
            url=f"http://evil.example/up?m={phone(2)}",
        ),  # undeclared, US: counted, alerted
        line.format(
            ts="1773122137.5",
            sp="",
            n=10,
            method="GET",
            hier="HIER_DIRECT",
            peer="192.0.2.7",
            url=f"http://cn.example/up?m={phone(3)}",
        ),  # domestic: not a cross-border flow
        line.format(
            ts="1773122138",
            sp="",
            n=0,
            method="CONNECT",
            hier="HIER_DIRECT",
            peer="203.0.113.9",
            url="api.partner.sg:443",
        ),
        line.format(
            ts="1773122139",
            sp="",
            n=7,
            method="GET",
            hier="FIRSTUP_PARENT",
            peer="proxy.example",
            url=f"http://api.partner.sg/?e=a{phone(4)}@example.com",
        ),
        line.format(
            ts="1767196799.9",
            sp="",
            n=1,
            method="GET",
            hier="HIER_NONE",
            peer="-",
            url=f"http://api.partner.sg/?m={phone(5)}",
        ),  # 2025-12-31 23:59:59.9 in Shanghai
        line.format(
            ts="1767196800",
            sp="",
            n=1,
            method="GET",
            hier="HIER_NONE",
            peer="-",
            url=f"http://api.partner.sg/?m={phone(6)}",
        ),  # 2026-01-01 00:00 in Shanghai
        "",
        "1773122136.1 5 10.0.0.5 TCP_MISS/200 not-a-number GET http://x/ - HIER_DIRECT/1.2.3.4 -",
    ]
    text = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref_m, bulk_m = monitor(tmp_path / "a", transfers, geo), monitor(tmp_path / "b", transfers, geo)
    n, bad, ref = _per_line(ref_m, text, SquidParser())
    got = Batch()
    assert BulkReader(bulk_m, squid=True).feed(text, got) == (n, bad) == (len(lines) + 1, 2)
    assert got.events == ref.events == 7
    assert got.observed == ref.observed and dict(got.hashes) == dict(ref.hashes)
    assert (
        got.undeclared
        == ref.undeclared
        == {
            ("evil.example", 2026): {
                "endpoint": "evil.example",
                "ip": "198.51.100.7",
                "country": "US",
            }
        }
    )
    assert {y for (_r, y, _k) in got.hashes} == {2025, 2026}
    # A time no calendar holds is a bad line (the line parser would raise on it).
    huge = line.format(
        ts="9" * 30,
        sp="",
        n=1,
        method="GET",
        hier="HIER_NONE",
        peer="-",
        url=f"http://api.partner.sg/?m={phone(7)}",
    )
    assert BulkReader(bulk_m, squid=True).feed((huge + "\n").encode(), Batch()) == (1, 1)
    # The watcher sniffs the format and reads it chunk-wise, with workers too.
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines[:7] * 40) + "\n")
    for workers in (1, 2):
        (tmp_path / f"w{workers}").mkdir()
        m = monitor(tmp_path / f"w{workers}", transfers, geo)
        prog = watch_log(m, log, batch_lines=10, workers=workers)
        assert (prog.lines, prog.bad_lines, prog.events) == (280, 0, 280)
        assert m.store.counts()[("Partner SG Pte", 2026, "sensitive")] == 1
        assert m.store.counts()[("undeclared:evil.example", 2026, "pi")] == 1
