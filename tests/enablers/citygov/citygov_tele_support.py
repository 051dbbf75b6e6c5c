"""Helpers of the citygov telemetry tests: options, devices, a private Mosquitto."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mingyue.core import config


def with_options(**opts: Any) -> Any:
    """Return settings whose MINGYUE_CITYGOV__* options are ``opts`` (same data dir)."""
    return config.configure(citygov={k: str(v) for k, v in opts.items()})


def use_options(app: Any, **opts: Any) -> Any:
    """Give the running test app (and the process) these citygov options; return the settings."""
    s = with_options(**opts)
    app.state.settings = s
    return s


def register(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """Register a device through the API and return the answer (with its token)."""
    doc = {"device_id": "st-0001", "kind": "septic_tank", "lon": 106.55, "lat": 29.56, **body}
    r = client.post("/api/citygov/devices", json=doc, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something listens on host:port."""
    try:
        socket.create_connection((host, port), 0.3).close()
        return True
    except OSError:
        return False


def need_mosquitto() -> str:
    """Return the mosquitto binary, or skip with the reason."""
    exe = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if exe is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    return exe


class PrivateBroker:
    """A Mosquitto on a free loopback port with its own config and persistence directory."""

    def __init__(self, workdir: Path, extra: str = "", anonymous: bool = True) -> None:
        self.exe = need_mosquitto()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            # started as root, mosquitto would drop to the "mosquitto" user, who cannot write
            # this test's directory nor read its dynamic-security file
            f"user {getpass.getuser()}\n"
            f"{extra}",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.dir / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=log, stderr=log)
        for _ in range(100):
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.dir / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@contextmanager
def private_broker(
    workdir: Path, extra: str = "", anonymous: bool = True
) -> Iterator[PrivateBroker]:
    """Run a private Mosquitto for the block."""
    b = PrivateBroker(workdir, extra, anonymous)
    b.start()
    try:
        yield b
    finally:
        b.stop()
