"""Transport to the device under test: serial ports, pseudo-terminals and allow-listed sockets.

One :class:`Transport` over pyserial's ``serial_for_url`` whatever the port is:

- a serial device or pseudo-terminal: an absolute path to a character device (``/dev/ttyUSB0``,
  ``/dev/pts/7``, or a socat ``link=`` symlink to one);
- ``socket://host:port``: only a loopback address or a host on the lab allow-list
  (``MINGYUE_SATCERT__LAB_HOSTS``); anything else is refused before any connection is made.

Every other URL scheme pyserial knows (``rfc2217://``, ``spy://``, ``hwgrep://`` …) is refused.
Reads wait at most their timeout (``select`` on the port's descriptor); a port that goes away
raises :class:`~mingyue.enablers.satcert.engine.link.LinkClosed`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import select
import stat
from dataclasses import dataclass
from typing import Literal, Protocol

import serial

from mingyue.enablers.satcert.engine.link import LinkClosed
from mingyue.sdk.errors import InvalidInput

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_SOCKET_RE = re.compile(r"^socket://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$")
# Character devices a DUT can sit behind (a socat link= resolves to /dev/pts/N); /dev/null,
# /dev/mem and the like are refused.
_SERIAL_RE = re.compile(r"^/dev/(tty[A-Za-z0-9._-]*|pts/\d+|rfcomm\d+|serial/[^/]+/[^/]+)$")
READ_CHUNK = 65536


class Transport(Protocol):
    """A byte link to the DUT (same shape as the engine's ``ByteLink``)."""

    def write(self, data: bytes) -> None:
        """Send bytes; LinkClosed when the DUT is gone."""

    def read(self, timeout: float) -> bytes:
        """Return what arrives within ``timeout`` s (``b""`` if nothing); LinkClosed when gone."""

    def close(self) -> None:
        """Release the port (idempotent)."""


class PortRefused(InvalidInput):
    """The port is not a device, loopback or an allow-listed lab host (CLI exit 2)."""


@dataclass(frozen=True)
class PortSpec:
    """A checked port: what kind it is and the URL pyserial opens."""

    kind: Literal["serial", "socket"]
    url: str
    host: str | None = None
    port: int | None = None


def _host_allowed(host: str, lab_hosts: tuple[str, ...]) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        addr = None
    if addr is not None and addr.is_loopback:
        return True
    for entry in lab_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if "/" in entry:
            try:
                if addr is not None and addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif entry.strip("[]") == name:
            # names match as written: no DNS lookup decides what is allowed
            return True
    return False


def check_port(port: str, lab_hosts: tuple[str, ...] = ()) -> PortSpec:
    """Check a ``--port`` value against the rules above; PortRefused naming it otherwise."""
    port = port.strip()
    if port.startswith("socket://"):
        m = _SOCKET_RE.match(port)
        if not m:
            raise PortRefused(
                "satcert.port_refused", f"port {port!r} is not socket://host:port", field="port"
            )
        host, num = m.group(1), int(m.group(2))
        if not 0 < num < 65536:
            raise PortRefused("satcert.port_refused", f"port {port!r}: bad TCP port", field="port")
        if not _host_allowed(host, lab_hosts):
            raise PortRefused(
                "satcert.port_refused",
                f"port {port!r} refused: {host} is neither loopback nor an allow-listed lab host "
                "(MINGYUE_SATCERT__LAB_HOSTS)",
                field="port",
            )
        return PortSpec("socket", port, host.strip("[]"), num)
    if "://" in port or not port.startswith("/"):
        raise PortRefused(
            "satcert.port_refused",
            f"port {port!r} refused: give a serial device path (/dev/tty…) or socket://host:port",
            field="port",
        )
    try:
        mode = os.stat(port).st_mode
    except OSError as exc:
        raise PortRefused(
            "satcert.port_refused", f"port {port!r}: {exc.strerror or exc}", field="port"
        ) from None
    real = os.path.realpath(port)
    if not stat.S_ISCHR(mode) or not _SERIAL_RE.match(real):
        raise PortRefused(
            "satcert.port_refused",
            f"port {port!r} is not a serial device (/dev/tty*, /dev/pts/*, /dev/rfcomm*)",
            field="port",
        )
    return PortSpec("serial", port)


class SerialTransport:
    """A pyserial port (device, pty or socket) read with ``select`` and bounded timeouts."""

    def __init__(
        self, spec: PortSpec, *, baudrate: int = 115200, write_timeout: float = 2.0
    ) -> None:
        try:
            self._port = serial.serial_for_url(
                spec.url, baudrate=baudrate, timeout=0, write_timeout=write_timeout
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkClosed(f"cannot open {spec.url}: {exc}") from None
        self.spec = spec
        self._closed = False

    def write(self, data: bytes) -> None:
        """Send all bytes (LinkClosed on a dead port or a write that stalls past its timeout)."""
        if self._closed:
            raise LinkClosed("port closed")
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"write failed: {exc}") from None

    def read(self, timeout: float) -> bytes:
        """Return the bytes available within ``timeout`` s (``b""`` when none arrive)."""
        if self._closed:
            raise LinkClosed("port closed")
        try:
            ready, _, _ = select.select([self._port.fileno()], [], [], max(timeout, 0.0))
            if not ready:
                return b""
            data = self._port.read(READ_CHUNK)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkClosed(f"read failed: {exc}") from None
        if not data:
            raise LinkClosed("port reports data but none came (disconnected)")
        return bytes(data)

    def close(self) -> None:
        """Close the port."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(serial.SerialException, OSError):  # already gone
                self._port.close()


def open_transport(
    port: str, *, lab_hosts: tuple[str, ...] = (), baudrate: int = 115200
) -> SerialTransport:
    """Check ``port`` (PortRefused) and open it (LinkClosed when it cannot be opened)."""
    return SerialTransport(check_port(port, lab_hosts), baudrate=baudrate)
