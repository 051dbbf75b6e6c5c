"""The compiled contracts shipped with digitalasset: ABI, bytecode and how they were built.

``scripts/digitalasset-build-contracts.sh`` compiles ``contracts/*.sol`` with solc-js and writes
``contracts/artifacts/<Name>.json``; the platform only reads them (it runs without node).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mingyue.sdk.errors import NotFound

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"

COLLECTION = "MingyueCollection"  # ERC-721: one token per whole work, collection cap
EDITIONS = "MingyueEditions"  # ERC-1155: numbered editions with a cap per work
ANCHOR = "MingyueAnchor"  # evidence roots (存证) and audit-ledger heads


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI, creation bytecode and the build's facts."""

    name: str
    source_name: str
    source_sha256: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str
    compiler: str
    evm_version: str

    def source_current(self) -> bool:
        """Tell whether the shipped source still hashes to what was compiled."""
        path = CONTRACTS_DIR / self.source_name
        return hashlib.sha256(path.read_bytes()).hexdigest() == self.source_sha256


@cache
def load_artifact(name: str) -> Artifact:
    """Return a shipped contract by name (NotFound for an unknown one)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        raise NotFound("digitalasset.contract.unknown", f"no compiled contract {name}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=doc["contractName"],
        source_name=doc["sourceName"],
        source_sha256=doc["sourceSha256"],
        abi=tuple(doc["abi"]),
        bytecode=doc["bytecode"],
        deployed_bytecode=doc["deployedBytecode"],
        compiler=f"{doc['compiler']['name']} {doc['compiler']['version']}",
        evm_version=doc["compiler"]["settings"]["evmVersion"],
    )


def shipped() -> list[str]:
    """Return the names of every shipped contract."""
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
