"""The contracts on the embedded chain (py-evm through web3 + eth-tester) and over JSON-RPC.

ERC-721 collection and ERC-1155 editions: owner-only mint, caps, per-token and per-account
freezes, the regulator's pause, burn; the anchor contract; the journal that makes the embedded
chain survive a restart and be shared by processes; the RPC adapter's allow-list; the shipped
artifacts match their sources.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3.middleware import combine_middleware

from mingyue.enablers.digitalasset.adapters.chain import (
    Chain,
    ChainReverted,
    ChainUnavailable,
    EmbeddedChain,
    LocalKeySigner,
    RpcChain,
    check_rpc_url,
)
from mingyue.enablers.digitalasset.engine.contracts import (
    ANCHOR,
    COLLECTION,
    EDITIONS,
    load_artifact,
    shipped,
)
from mingyue.sdk.errors import InvalidInput, NotFound

HASH = bytes.fromhex("ab" * 32)


def _signer() -> LocalKeySigner:
    return LocalKeySigner(bytes(Account.create().key))


@pytest.fixture(scope="module")
def chain() -> EmbeddedChain:
    return EmbeddedChain()


@pytest.fixture(scope="module")
def parties(chain: EmbeddedChain) -> dict[str, LocalKeySigner]:
    out = {name: _signer() for name in ("issuer", "regulator", "alice", "bob")}
    for s in out.values():
        chain.ensure_gas(s.address)
    return out


def test_artifacts_are_built_from_the_shipped_sources() -> None:
    assert shipped() == sorted([ANCHOR, COLLECTION, EDITIONS])
    for name in shipped():
        art = load_artifact(name)
        assert art.source_current(), f"{name}: run scripts/digitalasset-build-contracts.sh"
        assert art.bytecode.startswith("0x60") and art.compiler.startswith("solc-js 0.8.26")
    with pytest.raises(NotFound):
        load_artifact("../etc/passwd")


def test_erc721_mint_cap_freeze_pause_burn(chain: EmbeddedChain, parties: dict[str, Any]) -> None:
    art = load_artifact(COLLECTION)
    issuer, reg, alice, bob = (parties[k] for k in ("issuer", "regulator", "alice", "bob"))
    deployed = chain.deploy(art, ["明月集", "MOON", 2, issuer.address, reg.address], signer=issuer)
    addr = str(deployed.contract_address)
    assert chain.has_code(addr)
    minted = chain.transact(addr, art, "mint", [alice.address, 1, HASH], signer=issuer)
    assert [e.name for e in minted.events] == ["Transfer", "Minted"]
    assert chain.call(addr, art, "ownerOf", [1]) == alice.address
    assert chain.call(addr, art, "workHash", [1]) == "0x" + HASH.hex()
    # Only the issuer mints.
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "mint", [alice.address, 2, HASH], signer=alice)
    assert e.value.error == "AccessControlUnauthorizedAccount"
    chain.transact(addr, art, "mint", [bob.address, 2, HASH], signer=issuer)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "mint", [bob.address, 3, HASH], signer=issuer)
    assert e.value.error == "CapExceeded" and e.value.error_args == (2,)
    # A frozen token does not move; the issuer cannot unfreeze it, the regulator can.
    chain.transact(addr, art, "freezeToken", [1, True], signer=reg)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "transferFrom", [alice.address, bob.address, 1], signer=alice)
    assert e.value.error == "TokenIsFrozen"
    with pytest.raises(ChainReverted):
        chain.transact(addr, art, "freezeToken", [1, False], signer=issuer)
    chain.transact(addr, art, "freezeToken", [1, False], signer=reg)
    # A frozen account neither sends nor receives.
    chain.transact(addr, art, "freezeAccount", [bob.address, True], signer=reg)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "transferFrom", [alice.address, bob.address, 1], signer=alice)
    assert e.value.error == "AccountIsFrozen"
    chain.transact(addr, art, "freezeAccount", [bob.address, False], signer=reg)
    # The regulator's pause stops every transfer.
    chain.transact(addr, art, "pause", [], signer=reg)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "transferFrom", [alice.address, bob.address, 1], signer=alice)
    assert e.value.error == "EnforcedPause"
    with pytest.raises(ChainReverted):
        chain.transact(addr, art, "unpause", [], signer=issuer)
    chain.transact(addr, art, "unpause", [], signer=reg)
    moved = chain.transact(addr, art, "transferFrom", [alice.address, bob.address, 1], signer=alice)
    assert moved.status == 1 and chain.call(addr, art, "ownerOf", [1]) == bob.address
    chain.transact(addr, art, "burn", [1], signer=bob)
    with pytest.raises(ChainReverted) as e:
        chain.call(addr, art, "ownerOf", [1])
    assert e.value.error == "ERC721NonexistentToken"
    history = chain.events(addr, art, "Transfer", filters={"tokenId": 1})
    assert (history[0].args["from"][:4], history[0].args["to"][:4]) == (
        "0x00",
        alice.address[:4],
    )
    assert len(history) == 3  # mint, transfer, burn
    assert chain.block_time(moved.block_number) == moved.block_time


def test_erc1155_editions_cap_and_freeze(chain: EmbeddedChain, parties: dict[str, Any]) -> None:
    art = load_artifact(EDITIONS)
    issuer, reg, alice, bob = (parties[k] for k in ("issuer", "regulator", "alice", "bob"))
    addr = str(
        chain.deploy(
            art, ["https://x/{id}", issuer.address, reg.address], signer=issuer
        ).contract_address
    )
    chain.transact(addr, art, "createEdition", [7, 100, HASH], signer=issuer)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "createEdition", [7, 5, HASH], signer=issuer)
    assert e.value.error == "EditionExists"
    chain.transact(addr, art, "mint", [alice.address, 7, 60], signer=issuer)
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "mint", [alice.address, 7, 41], signer=issuer)
    assert e.value.error == "CapExceeded"
    with pytest.raises(ChainReverted):
        chain.transact(addr, art, "mint", [alice.address, 7, 1], signer=alice)
    chain.transact(
        addr, art, "safeTransferFrom", [alice.address, bob.address, 7, 10, b""], signer=alice
    )
    assert chain.call(addr, art, "balanceOf", [bob.address, 7]) == 10
    chain.transact(addr, art, "freezeToken", [7, True], signer=reg)
    with pytest.raises(ChainReverted) as e:
        chain.transact(
            addr, art, "safeTransferFrom", [bob.address, alice.address, 7, 1, b""], signer=bob
        )
    assert e.value.error == "TokenIsFrozen"
    chain.transact(addr, art, "freezeToken", [7, False], signer=reg)
    chain.transact(addr, art, "burn", [bob.address, 7, 10], signer=bob)
    assert chain.call(addr, art, "balanceOf", [bob.address, 7]) == 0
    # Burnt units do not free room under the cap (no re-issue beyond the edition).
    with pytest.raises(ChainReverted):
        chain.transact(addr, art, "mint", [alice.address, 7, 41], signer=issuer)


def test_anchor_once_by_the_anchorer(chain: EmbeddedChain, parties: dict[str, Any]) -> None:
    art = load_artifact(ANCHOR)
    anchorer = parties["issuer"]
    addr = str(chain.deploy(art, [anchorer.address], signer=anchorer).contract_address)
    r = chain.transact(addr, art, "anchor", [HASH, 3, "evidence"], signer=anchorer)
    assert r.events[0].name == "Anchored" and r.events[0].args["size"] == 3
    assert chain.call(addr, art, "anchoredAt", [HASH]) == int(r.block_time.timestamp())
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "anchor", [HASH, 3, "evidence"], signer=anchorer)
    assert e.value.error == "AlreadyAnchored"
    with pytest.raises(ChainReverted) as e:
        chain.transact(addr, art, "anchor", [b"\x01" * 32, 1, "x"], signer=parties["bob"])
    assert e.value.error == "NotAnchorer"


def test_journal_replays_state_and_block_times(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    first = EmbeddedChain(journal)
    issuer = _signer()
    first.ensure_gas(issuer.address)
    art = load_artifact(ANCHOR)
    addr = str(first.deploy(art, [issuer.address], signer=issuer).contract_address)
    r = first.transact(addr, art, "anchor", [HASH, 1, "evidence"], signer=issuer)
    # A second process on the same data dir replays the journal: same contract, same block time.
    second = EmbeddedChain(journal)
    assert second.block_number() == first.block_number()
    assert second.call(addr, art, "anchoredAt", [HASH]) == int(r.block_time.timestamp())
    # What one appends, the other sees before it acts.
    second.transact(addr, art, "anchor", [b"\x02" * 32, 2, "ledger_head"], signer=issuer)
    assert first.call(addr, art, "anchoredAt", [b"\x02" * 32]) > 0
    assert first.block_number() == second.block_number()


def _wire(value: Any) -> Any:
    """eth-tester's Python values as a JSON-RPC node writes them (camelCase keys, hex numbers)."""
    if isinstance(value, Mapping):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _wire(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


class _RpcHandler(BaseHTTPRequestHandler):
    """A JSON-RPC endpoint on loopback over an eth-tester chain (a node stands in here): results
    and reverts are written as Geth writes them (error code 3, revert data in ``data``)."""

    rpc: Any

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": body["id"]}
        try:
            result = self.rpc(body["method"], body.get("params", []))
            out.update({k: _wire(v) for k, v in dict(result).items() if k != "id"})
        except Exception as exc:  # a revert: eth-tester carries the revert data as its repr
            m = re.search(r"(b[\'\"].*[\'\"])", str(exc))
            data = ast.literal_eval(m.group(1)) if m else b""
            out["error"] = {"code": 3, "message": "execution reverted", "data": "0x" + data.hex()}
        raw = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def rpc_url() -> Iterator[tuple[str, EmbeddedChain]]:
    backing = EmbeddedChain()
    provider = backing.w3.provider
    # The tester provider's own request/result formatting, without any client middleware.
    request = combine_middleware(
        middleware=provider._middleware, w3=backing.w3, provider_request_fn=provider.make_request
    )
    handler = type("H", (_RpcHandler,), {"rpc": staticmethod(request)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", backing
    finally:
        server.shutdown()
        server.server_close()


def test_rpc_chain_over_http(rpc_url: tuple[str, EmbeddedChain]) -> None:
    url, backing = rpc_url
    rpc: Chain = RpcChain(url, allowed_hosts=["127.0.0.1"])
    issuer = _signer()
    backing.ensure_gas(issuer.address)
    assert rpc.chain_id == backing.chain_id
    art = load_artifact(COLLECTION)
    addr = str(
        rpc.deploy(
            art, ["N", "N", 1, issuer.address, issuer.address], signer=issuer
        ).contract_address
    )
    rpc.transact(addr, art, "mint", [issuer.address, 1, HASH], signer=issuer)
    with pytest.raises(ChainReverted) as e:
        rpc.transact(addr, art, "mint", [issuer.address, 2, HASH], signer=issuer)
    assert e.value.error == "CapExceeded"
    assert backing.call(addr, art, "ownerOf", [1]) == issuer.address


def test_rpc_url_allow_list_and_unreachable_node() -> None:
    with pytest.raises(InvalidInput) as e:
        check_rpc_url("http://10.0.0.5:8545/", ["besu.example.cn"])
    assert e.value.key == "digitalasset.chain.host_not_allowed"
    for bad in ("file:///etc/passwd", "http://user:pw@besu.example.cn/", "besu.example.cn"):
        with pytest.raises(InvalidInput):
            check_rpc_url(bad, ["besu.example.cn"])
    assert check_rpc_url("https://besu.example.cn/rpc", ["besu.example.cn"])
    # A port nothing listens on: a clear 503-class error, never a traceback.
    closed = RpcChain("http://127.0.0.1:9/", allowed_hosts=["127.0.0.1"], timeout_s=2)
    with pytest.raises(ChainUnavailable):
        closed.block_number()


def test_signer_never_prints_its_key() -> None:
    key = bytes(Account.create().key)
    s = LocalKeySigner(key)
    assert key.hex() not in repr(s) and s.address in repr(s)
