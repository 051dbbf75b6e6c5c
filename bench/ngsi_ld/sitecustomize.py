"""Loaded by the conformance run's Python (PYTHONPATH): sign every suite request to the broker.

The ETSI suite sends no credentials; the broker requires the platform's bearer token on every
route. This adds ``Authorization: Bearer $NGSI_BENCH_TOKEN`` to requests whose URL starts with
``$NGSI_BENCH_URL`` (the broker), and to nothing else (notification and context mock servers).
"""

from __future__ import annotations

import os

import requests

_TOKEN = os.environ.get("NGSI_BENCH_TOKEN", "")
_URL = os.environ.get("NGSI_BENCH_URL", "")
_original = requests.Session.request


def _request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
    if _TOKEN and _URL and str(url).startswith(_URL):
        headers = dict(kwargs.get("headers") or {})
        headers.setdefault("Authorization", f"Bearer {_TOKEN}")
        kwargs["headers"] = headers
    return _original(self, method, url, *args, **kwargs)


requests.Session.request = _request  # type: ignore[method-assign]
