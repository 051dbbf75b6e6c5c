"""Transactions per second of digitalasset's embedded chain, against bare eth-tester.

The peer is web3 + eth-tester + py-evm with the tester's unlocked accounts (``transact``: no
signing, no journal). Ours is ``EmbeddedChain`` as the platform uses it: every transaction
estimated, signed by a custody key (eth-account) and appended to the journal on disk. Both mint
N ERC-721 tokens of the shipped collection contract and then transfer each once, in the same
run. The embedded chain is for development and tests: this figure is a fact about it, never a
throughput claim (production uses a JSON-RPC node).

    .venv/bin/python bench/digitalasset_chain.py --n 100
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from mingyue.enablers.digitalasset.adapters.chain import EmbeddedChain, LocalKeySigner
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, load_artifact

HASH = b"\x11" * 32


def peer(n: int) -> float:
    """Bare eth-tester: unlocked accounts, web3 ``transact``; return tx/s."""
    w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
    art = load_artifact(COLLECTION)
    issuer, holder, other = w3.eth.accounts[:3]
    factory = w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
    tx = factory.constructor("B", "B", n, issuer, issuer).transact({"from": issuer})
    c = w3.eth.contract(
        address=w3.eth.get_transaction_receipt(tx)["contractAddress"], abi=list(art.abi)
    )
    start = time.perf_counter()
    for i in range(1, n + 1):
        c.functions.mint(holder, i, HASH).transact({"from": issuer})
    for i in range(1, n + 1):
        c.functions.transferFrom(holder, other, i).transact({"from": holder})
    return 2 * n / (time.perf_counter() - start)


def ours(n: int, journal: Path) -> float:
    """The platform's EmbeddedChain: signed, estimated, journaled; return tx/s."""
    chain = EmbeddedChain(journal)
    issuer, holder = (LocalKeySigner(bytes(Account.create().key)) for _ in range(2))
    other = Account.create().address
    for s in (issuer, holder):
        chain.ensure_gas(s.address)
    art = load_artifact(COLLECTION)
    addr = str(
        chain.deploy(
            art, ["B", "B", n, issuer.address, issuer.address], signer=issuer
        ).contract_address
    )
    start = time.perf_counter()
    for i in range(1, n + 1):
        chain.transact(addr, art, "mint", [holder.address, i, HASH], signer=issuer)
    for i in range(1, n + 1):
        chain.transact(addr, art, "transferFrom", [holder.address, other, i], signer=holder)
    return 2 * n / (time.perf_counter() - start)


def replay(journal: Path) -> float:
    """Seconds to rebuild the chain from its journal (a restart)."""
    start = time.perf_counter()
    EmbeddedChain(journal).block_number()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="tokens minted and transferred")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "journal.jsonl"
        peer_tps = peer(args.n)
        our_tps = ours(args.n, journal)
        lines = sum(1 for _ in journal.open()) - 1
        replay_s = replay(journal)
    out = {
        "transactions": 2 * args.n,
        "peer_bare_eth_tester_tx_per_s": round(peer_tps, 1),
        "embedded_chain_tx_per_s": round(our_tps, 1),
        "ratio_ours_to_peer": round(our_tps / peer_tps, 2),
        "journal_lines": lines,
        "replay_s": round(replay_s, 2),
        "replay_tx_per_s": round(lines / replay_s, 1),
    }
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
