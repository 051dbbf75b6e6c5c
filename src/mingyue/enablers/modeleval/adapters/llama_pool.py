"""One OpenAI-compatible endpoint in front of several llama.cpp server processes.

llama-cpp-python's server decodes one request at a time (one lock around its one model; it has no
``--parallel`` slots as llama.cpp's own ``llama-server`` has), so requests in flight only queue.
``LocalLlamaServer(processes=N)`` starts N of them, each with its share of the threads, and this
front on the advertised port: each request goes to a backend with nothing in flight (else waits
for one), streams pass through as they come, and a client that hangs up closes the backend's
stream too, so that backend stops decoding. Every client of the endpoint, whatever its
concurrency, gets the same server.

    python -m mingyue.enablers.modeleval.adapters.llama_pool --port P --backend URL [--backend URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "host"}


class Pool:
    """The front as an ASGI app: each request to one idle backend, streamed both ways."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self._idle: asyncio.Queue[str] | None = None
        self._client: httpx.AsyncClient | None = None

    def _queue(self) -> asyncio.Queue[str]:
        if self._idle is None:  # made in the server's event loop
            self._idle = asyncio.Queue()
            for url in self.urls:
                self._idle.put_nowait(url)
        return self._idle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if self._client is not None:
                await self._client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if self._client is None:
            # the clients keep their own time limits; this one only stops a dead backend
            limit = httpx.Timeout(3600.0, connect=10.0)
            self._client = httpx.AsyncClient(timeout=limit, trust_env=False)
        client = self._client
        url = await self._queue().get()
        try:
            pump = asyncio.ensure_future(self._pump(client, scope, body, url, send))
            gone = asyncio.ensure_future(_disconnected(receive))
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (pump, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError, httpx.HTTPError):
                    await task  # a cancelled pump closes the backend's stream: it stops decoding
        finally:
            self._queue().put_nowait(url)

    async def _pump(
        self, client: httpx.AsyncClient, scope: Scope, body: bytes, url: str, send: Send
    ) -> None:
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _HOP
        ]
        target = url + scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        request = client.build_request(scope["method"], target, headers=headers, content=body)
        upstream = await client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in upstream.headers.items()
                        if k.lower() not in _HOP
                    ],
                }
            )
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the front on loopback."""
    import uvicorn  # lazy: the server extra; only this process needs it

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backend", action="append", required=True)
    args = ap.parse_args(argv)
    uvicorn.run(
        Pool(args.backend),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
