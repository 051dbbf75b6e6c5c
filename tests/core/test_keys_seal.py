"""Stored secrets: sealed per purpose under MINGYUE_SECRET_KEY, unreadable under another key."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mingyue.core.config import Settings
from mingyue.core.ledger import keys


def test_seal_round_trip_and_purpose_separation(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, secret_key="k1-" + "x" * 30)
    token = keys.seal(s, "datasandbox.source", {"password": "hunter2-secret"})
    assert "hunter2" not in token and token.isascii()
    assert keys.unseal(s, "datasandbox.source", token) == {"password": "hunter2-secret"}
    with pytest.raises(keys.SecretUnreadable):
        keys.unseal(s, "compute.credentials", token)
    with pytest.raises(keys.SecretUnreadable):
        keys.unseal(
            Settings(data_dir=tmp_path, secret_key="k2-" + "y" * 30), "datasandbox.source", token
        )


def test_compute_tokens_sealed_before_the_move_still_open(tmp_path: Path) -> None:
    # The derivation compute used before it moved to keys.seal; stored pool tokens stay readable.
    s = Settings(data_dir=tmp_path, secret_key="deploy-secret-" + "z" * 20)
    digest = hashlib.sha256(b"mingyue.compute.credentials:" + s.secret_key.encode()).digest()
    old = Fernet(base64.urlsafe_b64encode(digest)).encrypt(json.dumps({"token": "t"}).encode())
    assert keys.unseal(s, "compute.credentials", old.decode()) == {"token": "t"}
