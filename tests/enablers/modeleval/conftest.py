"""Fixtures of the modeleval tests: the misbehaving OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from modeleval_fake_openai import FakeOpenAI, serve


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    yield from serve()
