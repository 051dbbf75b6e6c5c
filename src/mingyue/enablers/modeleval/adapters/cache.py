"""Replies cached on disk (SQLite in the data dir), so a repeated run asks the endpoint nothing
it has answered before. Keys are request hashes; the API key is never part of them."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from mingyue.enablers.modeleval.engine.client import Reply


class DiskCache:
    """A thread-safe reply cache in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS reply (key TEXT PRIMARY KEY, doc TEXT NOT NULL)"
        )
        self._db.commit()
        self._lock = threading.Lock()

    def get(self, key: str) -> Reply | None:
        """Return the cached reply, or None."""
        with self._lock:
            row = self._db.execute("SELECT doc FROM reply WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        d = json.loads(row[0])
        return Reply(
            d["text"],
            None,
            d["latency_ms"],
            d.get("ttft_ms"),
            d.get("prompt_tokens"),
            d.get("completion_tokens"),
            stopped_early=bool(d.get("stopped_early", False)),
        )

    def put(self, key: str, reply: Reply) -> None:
        """Store a successful reply."""
        if not reply.ok:
            return
        doc = json.dumps(
            {
                "text": reply.text,
                "latency_ms": reply.latency_ms,
                "ttft_ms": reply.ttft_ms,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "stopped_early": reply.stopped_early,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO reply (key, doc) VALUES (?, ?)", (key, doc))
            self._db.commit()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
