"""A simulated satellite-internet terminal with a GNSS receiver: pure logic, bytes in → bytes out.

It answers a 27.007 subset (identity, registration on satellite E-UTRAN, signal, PDP contexts),
accepts GNSS resets as UBX CFG-RST frames or Quectel-style AT commands (``AT+QGPSDEL=0|2|1`` for
cold|warm|hot, ``AT+QGPS=1|0`` GNSS on|off) and, while GNSS is on, streams GGA/RMC/GSV once per
epoch on the same port — without a fix until the sampled time to first fix has passed.

Time is whatever the caller passes as ``now`` (seconds): ``adapters/simport.py`` drives it with
the monotonic clock behind a pty pair or a loopback socket. Faults (``SimConfig.fault``) make it
misbehave the way real DUTs do, for the bench's own tests.
"""

from __future__ import annotations

import heapq
import math
import random
import struct
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from mingyue.enablers.satcert.engine.link import LinkClosed

FAULTS: dict[str, str] = {
    "none": "behaves",
    "bad_checksum": "every NMEA sentence carries a wrong checksum",
    "drop": "closes the connection after `drop_after` commands",
    "silent": "never answers",
    "urc_flood": "floods +CEREG/+CIEV URCs at `flood_per_s`",
    "slow": "answers every command after `slow_s` seconds",
    "no_fix": "streams NMEA but never gets a fix",
    "bad_imei": "reports an IMEI whose Luhn check digit is wrong",
    "terrestrial": "registers on terrestrial E-UTRAN (AcT 7), not on a satellite",
}
RESET_MODES = ("cold", "warm", "hot")


@dataclass(frozen=True)
class TtffDistribution:
    """Log-normal time to first fix: ``median_s · exp(sigma · N(0,1))``."""

    median_s: float
    sigma: float = 0.25

    def sample(self, rng: random.Random) -> float:
        """Draw one time to first fix in seconds."""
        return self.median_s * math.exp(self.sigma * rng.gauss(0.0, 1.0))


def _default_ttff() -> dict[str, TtffDistribution]:
    # CI-sized (seconds, not the tens of seconds of a real cold start); a lab run sets its own.
    return {
        "cold": TtffDistribution(0.8, 0.2),
        "warm": TtffDistribution(0.4, 0.2),
        "hot": TtffDistribution(0.15, 0.2),
    }


@dataclass(frozen=True)
class SimConfig:
    """What the simulated terminal reports and how it misbehaves."""

    manufacturer: str = "Mingyue Lab"
    model: str = "NTN-SIM-1"
    revision: str = "NTNSIM_1.0.3"
    imei: str = "861234051234568"
    act: int = 14  # satellite E-UTRAN (NB-S1 mode)
    rssi: int = 18  # +CSQ step: -77 dBm
    rsrp: int = 40  # +CESQ step: -101 dBm
    rsrq: int = 20  # +CESQ step: -10 dB
    lat: float = 39.9042
    lon: float = 116.4074
    alt_m: float = 43.5
    epoch_s: float = 0.1  # NMEA epoch interval (10 Hz in CI; 1 s on real receivers)
    ttff: dict[str, TtffDistribution] = field(default_factory=_default_ttff)
    gnss_on: bool = False
    fault: str = "none"
    drop_after: int = 6
    slow_s: float = 0.5
    flood_per_s: float = 5000.0
    response_delay_s: float = 0.0
    seed: int = 18
    utc_start: datetime = datetime(2025, 6, 1, 4, 0, 0, tzinfo=UTC)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")


def nmea_checksum(body: str) -> str:
    """Return the two-hex-digit XOR of the characters between ``$`` and ``*``."""
    x = 0
    for ch in body.encode("ascii"):
        x ^= ch
    return f"{x:02X}"


def _dm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    v = abs(value)
    deg = int(v)
    minutes = (v - deg) * 60
    return (f"{deg:02d}{minutes:07.4f}" if lat else f"{deg:03d}{minutes:07.4f}"), hemi


class SimModule:
    """The simulated DUT: feed it bytes, collect what it says at a given time."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.rng = random.Random(self.config.seed)  # noqa: S311 - simulation, not secrets
        self.closed = False
        self.commands = 0
        self.resets: list[tuple[float, str, float]] = []  # (at, mode, sampled ttff)
        self._echo = True  # V.250 default E1
        self._cmee = 0
        self._reg_n = {"+CREG": 0, "+CEREG": 0, "+C5GREG": 0}
        self._contexts: dict[int, tuple[str, str]] = {}
        self._active: set[int] = set()
        self._gnss_on = False
        self._power_on_pending = self.config.gnss_on  # started at the first output() call
        self._fix_at = math.inf
        self._next_epoch = 0.0
        self._last_flood = -math.inf
        self._inbuf = bytearray()
        self._queue: list[tuple[float, int, bytes]] = []
        self._seq = 0

    # -- input ---------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> None:
        """Take bytes from the bench at time ``now``."""
        if self.closed:
            return
        self._inbuf.extend(data)
        while self._inbuf and not self.closed:
            if self._inbuf[0] == 0xB5:
                if not self._take_ubx(now):
                    return
                continue
            cr = self._inbuf.find(b"\r")
            ubx = self._inbuf.find(b"\xb5\x62")
            if ubx >= 0 and (cr < 0 or ubx < cr):
                del self._inbuf[:ubx]
                continue
            if cr < 0:
                if len(self._inbuf) > 4096:  # a line with no end: drop it as V.250 would
                    self._inbuf.clear()
                return
            line = bytes(self._inbuf[:cr]).decode("ascii", "replace").strip("\n ").strip()
            del self._inbuf[: cr + 1]
            if line:
                self._command(line, now)

    def _take_ubx(self, now: float) -> bool:
        buf = self._inbuf
        if len(buf) < 2:
            return False
        if buf[1] != 0x62:
            del buf[:1]
            return True
        if len(buf) < 6:
            return False
        length = struct.unpack_from("<H", buf, 4)[0]
        if len(buf) < 8 + length:
            return False
        frame = bytes(buf[: 8 + length])
        del buf[: 8 + length]
        ck_a = ck_b = 0
        for b in frame[2:-2]:
            ck_a = (ck_a + b) & 0xFF
            ck_b = (ck_b + ck_a) & 0xFF
        if frame[-2:] != bytes((ck_a, ck_b)) or self.config.fault == "silent":
            return True
        if frame[2:4] == b"\x06\x04" and length == 4:  # CFG-RST (u-blox 8/M8 §32.10.27)
            mask, reset_mode = struct.unpack_from("<HB", frame, 6)
            if reset_mode == 8:
                self._gnss_on = False
            elif reset_mode == 9:
                self._start_gnss(now, "hot")
            else:
                self._start_gnss(now, "hot" if mask == 0 else "warm" if mask == 0x0001 else "cold")
        return True

    # -- output --------------------------------------------------------------------------------
    def output(self, now: float) -> bytes:
        """Return every byte due by ``now`` (responses, URCs, NMEA)."""
        if self.closed:
            return b""
        if self._power_on_pending:
            self._power_on_pending = False
            self._start_gnss(now, "cold")
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            out.extend(heapq.heappop(self._queue)[2])
        if self.config.fault == "urc_flood":
            if not math.isfinite(self._last_flood):
                self._last_flood = now
            n = min(int((now - self._last_flood) * self.config.flood_per_s), 2000)
            if n > 0:
                self._last_flood = now
                for i in range(n):
                    line = "+CIEV: 2,3" if i % 2 else '+CEREG: 1,"1A2B","01C2D3E4",14'
                    out.extend(f"\r\n{line}\r\n".encode())
        if self._gnss_on:
            if now - self._next_epoch > 10 * self.config.epoch_s:  # far behind: skip, don't burst
                self._next_epoch = now
            while self._next_epoch <= now:
                out.extend(self._epoch(self._next_epoch))
                self._next_epoch += self.config.epoch_s
        return bytes(out)

    def next_due(self, now: float) -> float | None:
        """Return when the module next has something to say (None: only when spoken to)."""
        if self.closed:
            return None
        times = [self._queue[0][0]] if self._queue else []
        if self._gnss_on or self._power_on_pending:
            times.append(now if self._power_on_pending else self._next_epoch)
        if self.config.fault == "urc_flood":
            times.append(now + 0.005)
        return min(times) if times else None

    def _say(self, now: float, lines: list[str], *, delay: float | None = None) -> None:
        if self.config.fault == "silent":
            return
        d = self.config.slow_s if self.config.fault == "slow" else self.config.response_delay_s
        at = now + (d if delay is None else delay)
        self._push(at, "".join(f"\r\n{ln}\r\n" for ln in lines).encode("ascii"))

    def _push(self, at: float, payload: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, payload))

    # -- GNSS ----------------------------------------------------------------------------------
    def _sample(self, mode: str, now: float) -> float:
        if self.config.fault == "no_fix":
            return math.inf
        ttff = self.config.ttff[mode].sample(self.rng)
        self.resets.append((now, mode, ttff))
        return now + ttff

    def _start_gnss(self, now: float, mode: str) -> None:
        self._gnss_on = True
        self._fix_at = self._sample(mode, now)
        self._next_epoch = now + self.config.epoch_s

    def _sentence(self, body: str) -> bytes:
        ck = nmea_checksum(body)
        if self.config.fault == "bad_checksum":
            ck = f"{int(ck, 16) ^ 0x5A:02X}"
        return f"${body}*{ck}\r\n".encode("ascii")

    def _epoch(self, t: float) -> bytes:
        utc = self.config.utc_start + timedelta(seconds=t)
        hms = utc.strftime("%H%M%S.") + f"{utc.microsecond // 10000:02d}"
        fixed = t >= self._fix_at
        if fixed:
            # a few centimetres of deterministic wander, so that fixes are not all identical
            jitter = 1e-7 * math.sin(t)
            lat, ns = _dm(self.config.lat + jitter, True)
            lon, ew = _dm(self.config.lon - jitter, False)
            gga = f"GNGGA,{hms},{lat},{ns},{lon},{ew},1,10,0.9,{self.config.alt_m:.1f},M,-8.5,M,,"
            rmc = f"GNRMC,{hms},A,{lat},{ns},{lon},{ew},0.02,,{utc:%d%m%y},,,A"
        else:
            gga = f"GNGGA,{hms},,,,,0,00,99.99,,,,,,"
            rmc = f"GNRMC,{hms},V,,,,,,,{utc:%d%m%y},,,N"
        sats = [(3, 62, 45, 44), (7, 41, 120, 40), (9, 33, 210, 38), (16, 18, 300, 35)]
        gsv = "GPGSV,1,1,04," + ",".join(
            f"{sv:02d},{el:02d},{az:03d},{cn if fixed else ''}" for sv, el, az, cn in sats
        )
        return self._sentence(gga) + self._sentence(rmc) + self._sentence(gsv)

    # -- AT commands ---------------------------------------------------------------------------
    def _command(self, line: str, now: float) -> None:
        if self.config.fault == "silent":
            return
        self.commands += 1
        if self._echo:  # V.250 §6.2.4: the command line comes back as received, at once
            self._push(now, line.encode("ascii", "replace") + b"\r")
        self._answer(line, now)
        if self.config.fault == "drop" and self.commands >= self.config.drop_after:
            self.closed = True

    def _error(self, now: float, code: int, text: str) -> None:
        if self._cmee == 1:
            self._say(now, [f"+CME ERROR: {code}"])
        elif self._cmee == 2:
            self._say(now, [f"+CME ERROR: {text}"])
        else:
            self._say(now, ["ERROR"])

    def _answer(self, line: str, now: float) -> None:
        cmd = line.upper()
        c = self.config
        ok = ["OK"]
        if not cmd.startswith("AT"):
            self._say(now, ["ERROR"])
            return
        body = cmd[2:]
        imei = c.imei
        if c.fault == "bad_imei":
            imei = imei[:-1] + str((int(imei[-1]) + 1) % 10)
        act = 7 if c.fault == "terrestrial" else c.act
        simple: dict[str, list[str]] = {
            "": ok,
            "E0": ok,
            "E1": ok,
            "V1": ok,
            "I": [c.manufacturer, c.model, f"Revision: {c.revision}", "OK"],
            "+CGMI": [c.manufacturer, "OK"],
            "+CGMM": [c.model, "OK"],
            "+CGMR": [c.revision, "OK"],
            "+CGSN": [imei, "OK"],
            "+GSN": [imei, "OK"],
            "+CGSN=1": [f'+CGSN: "{imei}"', "OK"],
            "+CFUN?": ["+CFUN: 1", "OK"],
            "+CMEE?": [f"+CMEE: {self._cmee}", "OK"],
            "+CSQ": [f"+CSQ: {c.rssi},99", "OK"],
            "+CESQ": [f"+CESQ: 99,99,255,255,{c.rsrq},{c.rsrp}", "OK"],
            "+COPS?": [f'+COPS: 0,0,"CHN-SAT",{act}', "OK"],
        }
        if body in simple:
            if body == "E0":
                self._echo = False
            elif body == "E1":
                self._echo = True
            self._say(now, simple[body])
            return
        if body.startswith("+CMEE=") and body[6:] in ("0", "1", "2"):
            self._cmee = int(body[6:])
            self._say(now, ok)
            return
        if body.startswith("+CFUN="):
            self._say(now, ok)
            return
        for prefix in self._reg_n:
            if body == prefix + "?":
                self._say(now, [self._registration(prefix, act, read=True), "OK"])
                return
            if body.startswith(prefix + "=") and body[len(prefix) + 1 :] in ("0", "1", "2", "3"):
                self._reg_n[prefix] = int(body[len(prefix) + 1 :])
                self._say(now, ok)
                if self._reg_n[prefix] >= 1 and self._registered(prefix, act):
                    self._say(now, [self._registration(prefix, act, read=False)], delay=0.05)
                return
        if body.startswith("+CGDCONT=") and not body.endswith("?"):
            parts = line[11:].split(",")
            try:
                cid = int(parts[0])
            except ValueError:
                self._error(now, 50, "incorrect parameters")
                return
            pdp = parts[1].strip('"') if len(parts) > 1 else "IP"
            apn = parts[2].strip('"') if len(parts) > 2 else ""
            self._contexts[cid] = (pdp, apn)
            self._say(now, ok)
            return
        if body == "+CGDCONT?":
            lines = [
                f'+CGDCONT: {cid},"{t}","{a}"' for cid, (t, a) in sorted(self._contexts.items())
            ]
            self._say(now, [*lines, "OK"])
            return
        if body.startswith("+CGACT=") and not body.endswith("?"):
            try:
                state, cid = (int(x) for x in body[7:].split(","))
            except ValueError:
                self._error(now, 50, "incorrect parameters")
                return
            if cid not in self._contexts or state not in (0, 1):
                self._error(now, 50, "incorrect parameters")
                return
            (self._active.add if state else self._active.discard)(cid)
            self._say(now, ok)
            return
        if body == "+CGACT?":
            lines = [f"+CGACT: {cid},{int(cid in self._active)}" for cid in sorted(self._contexts)]
            self._say(now, [*lines, "OK"])
            return
        if body.startswith("+CGPADDR"):
            lines = [f'+CGPADDR: {cid},"10.45.0.{cid + 1}"' for cid in sorted(self._active)]
            self._say(now, [*lines, "OK"])
            return
        if body in ("+QGPS=1", "+QGPS=0"):
            if body.endswith("1"):
                self._start_gnss(now, "hot" if math.isfinite(self._fix_at) else "cold")
            else:
                self._gnss_on = False
            self._say(now, ok)
            return
        if body.startswith("+QGPSDEL=") and body[9:] in ("0", "1", "2"):
            self._say(now, ok)
            self._start_gnss(now, {"0": "cold", "1": "hot", "2": "warm"}[body[9:]])
            return
        self._error(now, 4, "operation not supported")

    def _registered(self, prefix: str, act: int) -> bool:
        if prefix == "+C5GREG":
            return act in (10, 11, 12, 13, 16)
        if prefix == "+CEREG":
            return act in (7, 9, 14, 15)
        return False

    def _registration(self, prefix: str, act: int, *, read: bool) -> str:
        stat = 1 if self._registered(prefix, act) else 0
        n = self._reg_n[prefix]
        head = f"{prefix}: {n},{stat}" if read else f"{prefix}: {stat}"
        if stat and n >= 2:
            return f'{head},"1A2B","01C2D3E4",{act}'
        return head


def with_fault(config: SimConfig, fault: str) -> SimConfig:
    """Return ``config`` with another fault (ValueError naming the known ones)."""
    return replace(config, fault=fault)


class VirtualClock:
    """A clock that moves only when told to (for :class:`VirtualLink`)."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def __call__(self) -> float:
        """Return the current virtual time in seconds."""
        return self.t


class VirtualLink:
    """The simulated module as an in-process link on a virtual clock: no threads, no waiting.

    A ``read(timeout)`` advances the clock to the module's next output or to the timeout, so a
    plan with minutes of TTFF runs in milliseconds (use the same clock for the engine).
    """

    def __init__(self, module: SimModule, clock: VirtualClock) -> None:
        self.module = module
        self.clock = clock
        self.closed = False

    def write(self, data: bytes) -> None:
        """Hand bytes to the module."""
        if self.closed or self.module.closed:
            raise LinkClosed("simulated module hung up")
        self.module.receive(data, self.clock())

    def read(self, timeout: float) -> bytes:
        """Return the module's output due within ``timeout`` virtual seconds."""
        deadline = self.clock() + max(timeout, 0.0)
        while True:
            if self.closed or self.module.closed:
                raise LinkClosed("simulated module hung up")
            out = self.module.output(self.clock())
            if out:
                return out
            if self.module.closed:
                raise LinkClosed("simulated module hung up")
            due = self.module.next_due(self.clock())
            if due is None or due > deadline:
                self.clock.t = max(self.clock.t, deadline)
                return b""
            self.clock.t = max(due, self.clock.t + 1e-6)

    def close(self) -> None:
        """Forget the module."""
        self.closed = True
