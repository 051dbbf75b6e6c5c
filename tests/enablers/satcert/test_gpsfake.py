"""Replay the u-blox mixed UBX+NMEA log through gpsd (gpsfake) and through our reader; compare.

What is compared, and why not raw message counts:
- gpsd reports per *reporting cycle*, not per message: a TPV merges NAV-PVT, NAV-SOL, NAV-POSLLH,
  NAV-TIMEGPS... of one epoch (and may repeat the previous epoch's position when a time message
  opens the next cycle), so the TPV count (96 here) matches no single UBX count. We compare
  (1) the epochs: distinct TPV times with a fix == distinct NAV-PVT iTOW that our reader decoded;
  (2) the positions: every NAV-PVT position (lat, lon, hMSL) we decode appears in a TPV, exact to
  gpsd's printed precision; (3) the SKY reports: gpsd emits one per NAV-SAT and per NAV-SVINFO, so
  their count equals the sum of those two counts in our report; (4) the NMEA sentences: gpsd passes
  the device's $GNTXT lines through in watch/nmea mode, as many as our reader accepted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mingyue.enablers.satcert.engine.nmea import NmeaReader

MIXED = Path(__file__).resolve().parents[4] / "shared" / "data" / "gnss" / "pyubx2"
MIXED = MIXED / "pygpsdata-MIXED.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gpsfake(log: Path) -> list[str]:
    """Run gpsfake once over the log (pipe mode: its own watcher prints gpsd's JSON and NMEA)."""
    cmd = ["gpsfake", "-1", "-p", "-q", "-P", str(_free_port()), "-c", "0.005", str(log)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # gpsfake and the gpsd it started, nothing else
        proc.communicate()
        pytest.fail("gpsfake did not finish the replay within 60 s")
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("ascii", errors="replace").splitlines()


def test_gpsfake_replay_agrees_with_our_reader() -> None:
    if shutil.which("gpsfake") is None:
        print("gpsfake not installed (Debian gpsd-clients; scripts/satcert-setup.sh): skipped")
        pytest.skip("gpsfake not installed (apt gpsd gpsd-clients)")
    if not MIXED.exists():
        pytest.skip(f"shared GNSS log absent: {MIXED}")
    started = time.monotonic()
    lines = _gpsfake(MIXED)
    reports = [json.loads(ln) for ln in lines if ln.startswith("{")]
    tpv = [r for r in reports if r["class"] == "TPV" and r.get("mode", 0) >= 2 and "lat" in r]
    sky = [r for r in reports if r["class"] == "SKY"]
    txt = [ln for ln in lines if ln.startswith("$GNTXT")]

    reader = NmeaReader("certification")
    reader.feed(MIXED.read_bytes())
    rep = reader.close()
    assert rep.passed and rep.noise_bytes == 0

    # (1) epochs
    ours_epochs = {f.itow_ms for f in reader.ubx_fixes}
    assert len(ours_epochs) == len({r["time"] for r in tpv}) == 39
    # (2) positions: each NAV-PVT fix is in a TPV (gpsd prints 9 decimals of degrees, mm heights)
    for fix in reader.ubx_fixes:
        assert any(
            abs(r["lat"] - fix.lat) <= 5e-10
            and abs(r["lon"] - fix.lon) <= 5e-10
            and abs(r["altMSL"] - fix.alt_msl_m) <= 5e-4
            for r in tpv
        ), fix
    # (3) sky views
    assert len(sky) == rep.ubx_messages["NAV-SAT"] + rep.ubx_messages["NAV-SVINFO"] == 67
    # (4) NMEA passed through
    assert len(txt) == rep.by_type["TXT"] == 8
    print(f"gpsfake replay: {len(tpv)} TPV, {len(sky)} SKY in {time.monotonic() - started:.1f} s")
