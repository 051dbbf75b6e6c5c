"""An OpenAI-compatible chat endpoint (``POST {base}/chat/completions``) for generated answers.

The endpoint is an outside engine: its host must be loopback or on the operator's allow-list
(checked on the resolved addresses before any connection), redirects are not followed, the key
is sent only as a bearer header and never appears in an error, and a failure reaches the caller
as one generic message.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from mingyue.sdk.errors import InvalidInput, MingyueError

log = logging.getLogger(__name__)


class ModelUnavailable(MingyueError):
    """The model endpoint gave no usable answer (HTTP 502; CLI exit 1)."""

    status = 502


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addrs
    )


def check_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """Return the endpoint URL if its host is loopback or allowed; InvalidInput otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("policy.model_url", "the model endpoint must be an http(s) URL")
    if parts.username or parts.password:
        raise InvalidInput("policy.model_url", "put the key in MODEL_API_KEY, not in the URL")
    host = parts.hostname.lower()
    if host not in allowed_hosts and not _is_loopback(host):
        raise InvalidInput(
            "policy.model_host_refused",
            f"model endpoint host {host} is not loopback nor in MINGYUE_POLICY__MODEL_HOSTS",
        )
    return url.rstrip("/")


class ChatEndpoint:
    """Calls one model on an OpenAI-compatible endpoint; ``__call__`` returns the reply text."""

    def __init__(
        self,
        url: str,
        *,
        model: str,
        api_key: str = "",
        timeout_s: float = 60.0,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.base = check_url(url, allowed_hosts)
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    def __call__(self, messages: list[dict[str, str]]) -> str:
        """Send the messages; return the first choice's text (ModelUnavailable on any failure)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                resp = client.post(
                    f"{self.base}/chat/completions", json=body, headers=self._headers
                )
            resp.raise_for_status()
            data = resp.json()
            text = data["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("policy model endpoint failed: %s", type(exc).__name__)
            raise ModelUnavailable(
                "policy.model_unavailable", "the model endpoint gave no usable answer"
            ) from None
        if not isinstance(text, str):
            raise ModelUnavailable(
                "policy.model_unavailable", "the model endpoint gave no usable answer"
            )
        return text
