"""Run the simulated module (:mod:`..engine.sim`) behind a real port, for CI and demos.

Three ways, the same module behind each:

- ``socat``: ``socat -d -d pty,raw,echo=0,link=<dir>/ttyDUT pty,raw,echo=0,link=<dir>/ttyBENCH``;
  the module opens the DUT end, the bench opens ``<dir>/ttyBENCH`` (preferred when socat exists:
  it is what a lab uses to splice a logger between a terminal and the bench);
- ``openpty``: ``os.openpty()``; the module holds the master, the bench opens the slave path;
- ``tcp``: a loopback listener on 127.0.0.1 (``socket://127.0.0.1:<port>``), one connection.

A pump thread feeds what the bench writes into the module and writes what the module says when
it is due. When the module drops the connection (fault ``drop``) the pump closes its end (and
stops socat), so the bench sees a real hang-up.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Literal

from mingyue.enablers.satcert.engine.sim import SimConfig, SimModule

Mode = Literal["auto", "socat", "openpty", "tcp"]
SOCAT_START_TIMEOUT_S = 5.0


class SimPortError(RuntimeError):
    """The simulated module's port could not be set up."""


class SimPort:
    """A simulated module served on a pty pair or a loopback socket (a context manager)."""

    def __init__(self, config: SimConfig | None = None, *, mode: Mode = "auto") -> None:
        self.module = SimModule(config)
        if mode == "auto":
            mode = "socat" if shutil.which("socat") else "openpty"
        self.mode: Literal["socat", "openpty", "tcp"] = mode
        self.url = ""
        self._fd: int | None = None  # module side: pty master / DUT end of socat
        self._keep_fd: int | None = (
            None  # openpty: our copy of the slave, so the master never sees HUP
        )
        self._sock: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._socat: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> SimPort:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Open the ports and start the pump; return the URL the bench opens."""
        if self.mode == "socat":
            self._start_socat()
        elif self.mode == "openpty":
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._fd, self._keep_fd = master, slave
            self.url = os.ttyname(slave)
        else:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(1)
            self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._pump, name="satcert-sim", daemon=True)
        self._thread.start()
        return self.url

    def _start_socat(self) -> None:
        exe = shutil.which("socat")
        if exe is None:
            raise SimPortError("socat is not installed (apt install socat)")
        self._dir = tempfile.TemporaryDirectory(prefix="satcert-pty-")
        dut, bench = Path(self._dir.name) / "ttyDUT", Path(self._dir.name) / "ttyBENCH"
        self._socat = subprocess.Popen(
            [exe, "-d", "-d", f"pty,raw,echo=0,link={dut}", f"pty,raw,echo=0,link={bench}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + SOCAT_START_TIMEOUT_S
        while not (dut.exists() and bench.exists()):
            if self._socat.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SimPortError("socat did not create its pty pair in time")
            time.sleep(0.005)
        self._fd = os.open(dut, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._fd)
        self.url = str(bench)

    def stop(self) -> None:
        """Stop the pump, close every descriptor and stop socat."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._hang_up()
        for fd in (self._keep_fd,):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._keep_fd = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _hang_up(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._socat is not None:
            if self._socat.poll() is None:
                self._socat.terminate()
                try:
                    self._socat.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    self._socat.kill()
                    self._socat.wait(timeout=2.0)
            self._socat = None

    # -- pump ----------------------------------------------------------------------------------
    def _pump(self) -> None:
        try:
            if self.mode == "tcp":
                assert self._listener is not None  # noqa: S101 - set in start()
                self._listener.settimeout(0.05)
                while not self._stop.is_set():
                    try:
                        self._sock, _ = self._listener.accept()
                        break
                    except TimeoutError:
                        continue
                if self._sock is None:
                    return
                self._sock.setblocking(False)
            self._serve()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._hang_up()

    def _serve(self) -> None:
        module = self.module
        fd = self._sock.fileno() if self._sock is not None else self._fd
        assert fd is not None  # noqa: S101 - set in start()
        while not self._stop.is_set():
            now = time.monotonic()
            due = module.next_due(now)
            wait = 0.05 if due is None else min(max(due - now, 0.0), 0.05)
            ready, _, _ = select.select([fd], [], [], wait)
            now = time.monotonic()
            if ready:
                try:
                    data = self._sock.recv(65536) if self._sock is not None else os.read(fd, 65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""  # the bench hung up (EIO on a pty whose other end closed)
                if data == b"" and self._sock is not None:
                    return
                if data:
                    module.receive(data, now)
                elif data == b"":
                    time.sleep(0.01)  # a pty with no reader yet reports HUP: wait for the bench
            out = module.output(now)
            if out:
                self._send(fd, out)
            if module.closed:
                return

    def _send(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline and not self._stop.is_set():
            try:
                n = self._sock.send(view) if self._sock is not None else os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
                continue
            view = view[n:]
        # past the deadline the bench is not reading: what is left is dropped with the module's
        # output, as a real UART overruns (the bench's raw log shows what did arrive)
