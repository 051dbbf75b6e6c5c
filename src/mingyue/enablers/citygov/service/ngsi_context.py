"""JSON-LD contexts of the NGSI-LD broker: which @context URLs are served and how.

A context URL is served from the enabler's own files (``contexts/index.json``), from files the
operator names (``MINGYUE_CITYGOV__NGSI_CONTEXT_FILES``), or fetched — only from allow-listed
URL prefixes (``MINGYUE_CITYGOV__NGSI_CONTEXT_URLS``), with a size cap and a cache. Anything
else answers 503 LdContextNotAvailable: a user-supplied URL is never fetched.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mingyue.enablers.citygov import settings as citygov_settings
from mingyue.enablers.citygov.adapters import ngsi_remote
from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data
from mingyue.sdk import Settings

_FETCH_TTL_S = 3600.0
_fetched: dict[str, tuple[float, Any]] = {}
_built: OrderedDict[str, ActiveContext] = OrderedDict()
_lock = threading.Lock()


def _configured_files(settings: Settings) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pair in citygov_settings.options(settings).ngsi_context_files:
        url, sep, path = pair.partition("=")
        if sep and url.strip() and path.strip():
            out[url.strip()] = Path(path.strip())
    return out


def _loader(settings: Settings) -> jsonld.Loader:
    opts = citygov_settings.options(settings)
    files = {**jsonld.local_documents(), **_configured_files(settings)}

    def load(url: str) -> Any:
        path = files.get(url)
        if path is not None:
            return jsonld.load_local_file(path, url)
        if any(url.startswith(prefix) for prefix in opts.ngsi_context_urls):
            with _lock:
                hit = _fetched.get(url)
            if hit is not None and time.monotonic() - hit[0] < _FETCH_TTL_S:
                return hit[1]
            doc = ngsi_remote.fetch_context(url)
            with _lock:
                _fetched[url] = (time.monotonic(), doc)
            return doc
        if not jsonld.is_iri(url):
            raise bad_data(f"the @context entry {url!r} is not a URL")
        raise NgsiError(
            "LdContextNotAvailable",
            f"the @context {url} is not available: this broker loads only the contexts it "
            "serves locally or from allow-listed servers",
        )

    return load


def active_context(settings: Settings, contexts: Iterable[Any]) -> ActiveContext:
    """Return the active context of a request's ``@context`` entries (core context last)."""
    items = list(contexts)
    key = json.dumps(items, sort_keys=True)
    with _lock:
        ctx = _built.get(key)
        if ctx is not None:
            _built.move_to_end(key)
            return ctx
    ctx = jsonld.build(items, _loader(settings))
    with _lock:
        _built[key] = ctx
        while len(_built) > 256:
            _built.popitem(last=False)
    return ctx


def core_context() -> ActiveContext:
    """Return the active context of the core terms only."""
    return jsonld.core_context()
