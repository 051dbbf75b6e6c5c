"""The signing key is created once, even when several processes start on a fresh data dir.

Each process generates a key, writes it to a private temporary file and hard-links it into
place; the link fails for every process but one, and those use the winner's key. A reader never
sees a half-written key file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mingyue.core.config import Settings
from mingyue.core.ledger import keys

# Each child waits for the start file (so that all of them reach the key at the same moment),
# then asks for the platform's key and prints its public half.
_CHILD = """
import json, os, sys, time
from pathlib import Path
from mingyue.core.config import Settings
from mingyue.core.ledger import keys
data_dir, start = Path(sys.argv[1]), Path(sys.argv[2])
s = Settings(data_dir=data_dir, env="test", secret_key="k" * 40, database_url="sqlite://")
(start.parent / f"ready-{os.getpid()}").touch()
while not start.exists():
    time.sleep(0.001)
print(json.dumps({"pid": os.getpid(), "public": keys.public_key_b64(s)}))
"""

PROCESSES = 6


def _race(data_dir: Path, work: Path, n: int = PROCESSES) -> list[str]:
    work.mkdir(parents=True)
    start = work / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(data_dir), str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(work.glob("ready-*"))) < n and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        start.touch()  # every child is at the barrier: go
        publics = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
            publics.append(json.loads(out.strip().splitlines()[-1])["public"])
        return publics
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


@pytest.mark.slow
def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    for attempt in range(3):  # three fresh data dirs: three races
        data_dir = tmp_path / f"data{attempt}"
        publics = _race(data_dir, tmp_path / f"r{attempt}")
        assert len(set(publics)) == 1, publics
        key_dir = data_dir / "keys"
        names = sorted(p.name for p in key_dir.iterdir())
        assert "platform_ed25519.pem" in names
        assert not [n for n in names if n.endswith(".tmp")], names  # no leftovers
        pem = key_dir / "platform_ed25519.pem"
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        s = Settings(data_dir=data_dir, env="test", secret_key="k" * 40)
        keys._load.cache_clear()
        assert keys.public_key_b64(s) == publics[0]  # the file holds the key they all used


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", env="test", secret_key="k" * 40)
    first = keys.public_key_b64(s)
    before = keys.key_path(s).read_bytes()
    keys._load.cache_clear()
    keys._create_once(keys.key_path(s))  # a late process that lost the race
    assert keys.key_path(s).read_bytes() == before
    keys._load.cache_clear()
    assert keys.public_key_b64(s) == first
    assert [p.name for p in keys.key_path(s).parent.iterdir() if p.name.endswith(".tmp")] == []


def test_the_key_file_can_live_outside_the_data_dir(tmp_path: Path, settings: Settings) -> None:
    elsewhere = tmp_path / "secrets" / "signing.pem"
    s = settings.model_copy(update={"signing_key_file": elsewhere})
    keys._load.cache_clear()
    pub = keys.public_key_b64(s)
    assert elsewhere.is_file() and stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    keys._load.cache_clear()
    assert keys.public_key_b64(s) == pub
