"""The chain: one small interface (deploy, call, transact, events, block time), two backends.

- ``EmbeddedChain``: py-evm through web3 + eth-tester, in-process, no server. Its state is the
  replay of a journal of raw signed transactions (``data_dir/digitalasset/chain/journal.jsonl``),
  so it survives restarts and every process on one data dir (server, worker, CLI) sees the same
  chain: each one replays what the others appended, under a file lock, before it acts. About 18
  transactions a second: for development and tests, never for throughput figures.
- ``RpcChain``: any Ethereum JSON-RPC endpoint (a permissioned EVM chain such as Hyperledger
  Besu, FISCO BCOS-EVM or Geth) by URL; only a host on the allow-list is contacted, no redirect
  is followed.

Transactions are signed by a ``Signer`` (a platform keystore key, or an HSM/KMS behind the same
two members); nodes never hold keys. A revert comes back as ``ChainReverted`` naming the
contract's custom error (``TokenIsFrozen``, ``CapExceeded``, ``AccessControlUnauthorizedAccount``).
"""

from __future__ import annotations

import ast
import fcntl
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception

from mingyue.enablers.digitalasset.engine.contracts import Artifact
from mingyue.sdk.errors import InvalidInput, MingyueError, Refused

log = logging.getLogger(__name__)

# Gas estimates are exact on the node that made them; a margin keeps a transaction that reads a
# slot another one just wrote from running out.
_GAS_MARGIN = 1.2
_FAUCET_TOPUP_WEI = 10**18
_FAUCET_MIN_WEI = 10**17


class ChainReverted(Refused):
    """The contract refused the transaction (HTTP 403, CLI exit 3); ``error`` names why."""

    def __init__(self, error: str, args: Sequence[Any] = ()) -> None:
        super().__init__(
            "digitalasset.chain.reverted",
            f"the contract refused: {error}",
            error=error,
            args=[str(a) for a in args],
        )
        self.error = error
        self.error_args = tuple(args)


class ChainUnavailable(MingyueError):
    """The chain node cannot be reached or answered nonsense (HTTP 503)."""

    status = 503
    exit_code = 1


@runtime_checkable
class Signer(Protocol):
    """Signs transactions for one address: a platform keystore key, or an HSM/KMS key."""

    @property
    def address(self) -> str:
        """Return the checksummed address the key controls."""
        ...

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """Return the raw signed transaction (RLP bytes) for a filled-in transaction dict."""
        ...


class LocalKeySigner:
    """A private key held in memory for one operation (never printed, never logged)."""

    __slots__ = ("_address", "_key")

    def __init__(self, private_key: bytes) -> None:
        self._key = bytes(private_key)
        self._address = str(Account.from_key(self._key).address)

    @property
    def address(self) -> str:
        """Return the checksummed address of the key."""
        return self._address

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """Sign a filled-in transaction with the key."""
        return bytes(Account.sign_transaction(dict(tx), self._key).raw_transaction)

    def __repr__(self) -> str:
        return f"LocalKeySigner({self._address})"


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract event."""

    name: str
    address: str
    block_number: int
    tx_hash: str
    log_index: int
    args: dict[str, Any]


@dataclass(frozen=True)
class TxResult:
    """A mined transaction: where, when, what it cost, what it emitted."""

    tx_hash: str
    block_number: int
    block_time: datetime
    status: int
    gas_used: int
    sender: str
    contract_address: str | None = None
    events: list[ChainEvent] = field(default_factory=list)


@runtime_checkable
class Chain(Protocol):
    """What digitalasset needs of an EVM chain."""

    kind: str

    @property
    def chain_id(self) -> int:
        """Return the chain id (EIP-155)."""
        ...

    def block_number(self) -> int:
        """Return the newest block's number."""
        ...

    def block_time(self, block: int | None = None) -> datetime:
        """Return a block's time (UTC); the newest block's when ``block`` is None."""
        ...

    def deploy(self, artifact: Artifact, args: Sequence[Any], *, signer: Signer) -> TxResult:
        """Deploy a compiled contract; the result carries its address."""
        ...

    def call(self, address: str, artifact: Artifact, fn: str, args: Sequence[Any] = ()) -> Any:
        """Read a view function."""
        ...

    def transact(
        self, address: str, artifact: Artifact, fn: str, args: Sequence[Any], *, signer: Signer
    ) -> TxResult:
        """Send a state-changing call signed by ``signer``; ChainReverted when it reverts."""
        ...

    def events(
        self,
        address: str,
        artifact: Artifact,
        event: str,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[ChainEvent]:
        """Return one event of a contract in a block range, optionally by indexed arguments."""
        ...

    def has_code(self, address: str) -> bool:
        """Tell whether a contract lives at the address."""
        ...

    def ensure_gas(self, address: str) -> None:
        """Make sure the address can pay for gas (the embedded chain tops it up)."""
        ...


def _error_selectors(artifact: Artifact) -> dict[bytes, tuple[str, list[str]]]:
    out: dict[bytes, tuple[str, list[str]]] = {
        bytes.fromhex("08c379a0"): ("Error", ["string"]),
        bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
    }
    for item in artifact.abi:
        if item.get("type") == "error":
            types = [str(i["type"]) for i in item.get("inputs", [])]
            sig = f"{item['name']}({','.join(types)})"
            out[keccak(text=sig)[:4]] = (str(item["name"]), types)
    return out


def decode_revert(artifact: Artifact, data: Any) -> ChainReverted:
    """Name the custom error (or reason string) a revert carries."""
    raw: bytes = b""
    if isinstance(data, Mapping):
        data = data.get("data") or next(iter(data.values()), "")
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    elif isinstance(data, str) and data.startswith("0x"):
        try:
            raw = bytes.fromhex(data[2:])
        except ValueError:
            raw = b""
    if len(raw) >= 4:
        known = _error_selectors(artifact).get(raw[:4])
        if known is not None:
            name, types = known
            try:
                values = list(abi_decode(types, raw[4:]))
            except Exception:  # malformed revert data: the name is still right
                values = []
            return ChainReverted(name, values)
        return ChainReverted(f"0x{raw[:4].hex()}")
    return ChainReverted("reverted")


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, HexBytes)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class _Web3Chain:
    """The part both backends share: everything web3 does once it has a provider."""

    kind = "web3"

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._chain_id: int | None = None

    # -- reading ------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            with self._guard():
                self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def block_number(self) -> int:
        with self._guard():
            return int(self.w3.eth.block_number)

    def block_time(self, block: int | None = None) -> datetime:
        with self._guard():
            b = self.w3.eth.get_block("latest" if block is None else block)
        return datetime.fromtimestamp(int(b["timestamp"]), tz=UTC)

    def has_code(self, address: str) -> bool:
        with self._guard():
            return len(self.w3.eth.get_code(to_checksum_address(address))) > 0

    def balance(self, address: str) -> int:
        """Return an address's balance in wei."""
        with self._guard():
            return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def _contract(self, address: str, artifact: Artifact) -> Contract:
        return self.w3.eth.contract(address=to_checksum_address(address), abi=list(artifact.abi))

    def call(self, address: str, artifact: Artifact, fn: str, args: Sequence[Any] = ()) -> Any:
        contract = self._contract(address, artifact)
        with self._guard(), self._reverts(artifact):
            return _plain(contract.get_function_by_name(fn)(*args).call())

    def events(
        self,
        address: str,
        artifact: Artifact,
        event: str,
        *,
        from_block: int = 0,
        to_block: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[ChainEvent]:
        contract = self._contract(address, artifact)
        with self._guard():
            logs = contract.events[event].get_logs(
                argument_filters=dict(filters) if filters else None,
                from_block=from_block,
                to_block="latest" if to_block is None else to_block,
            )
        return [self._event(e) for e in logs]

    @staticmethod
    def _event(e: Mapping[str, Any]) -> ChainEvent:
        return ChainEvent(
            name=str(e["event"]),
            address=str(e["address"]),
            block_number=int(e["blockNumber"]),
            tx_hash="0x" + bytes(e["transactionHash"]).hex(),
            log_index=int(e["logIndex"]),
            args=_plain(dict(e["args"])),
        )

    # -- writing ------------------------------------------------------------------------------

    def deploy(self, artifact: Artifact, args: Sequence[Any], *, signer: Signer) -> TxResult:
        factory = self.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
        return self._send(artifact, factory.constructor(*args), signer, address=None)

    def transact(
        self, address: str, artifact: Artifact, fn: str, args: Sequence[Any], *, signer: Signer
    ) -> TxResult:
        contract = self._contract(address, artifact)
        return self._send(artifact, contract.get_function_by_name(fn)(*args), signer, address)

    def _send(self, artifact: Artifact, call: Any, signer: Signer, address: str | None) -> TxResult:
        with self._writing(), self._guard():
            sender = to_checksum_address(signer.address)
            base: dict[str, Any] = {"from": sender, "chainId": self.chain_id}
            with self._reverts(artifact):
                gas = int(call.estimate_gas(base))
            tx = call.build_transaction(
                {
                    **base,
                    "gas": int(gas * _GAS_MARGIN),
                    "nonce": self.w3.eth.get_transaction_count(sender, "pending"),
                }
            )
            raw = signer.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(raw)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            block = self.w3.eth.get_block(receipt["blockNumber"])
            self._sent(raw, int(block["timestamp"]))
        events: list[ChainEvent] = []
        if address is not None or receipt.get("contractAddress"):
            contract = self._contract(address or str(receipt["contractAddress"]), artifact)
            for abi_event in (i for i in artifact.abi if i.get("type") == "event"):
                handler = contract.events[str(abi_event["name"])]()
                topic = keccak(
                    text=f"{abi_event['name']}({','.join(str(i['type']) for i in abi_event['inputs'])})"
                )
                for entry in receipt["logs"]:
                    if entry["topics"] and bytes(entry["topics"][0]) == topic:
                        events.append(self._event(handler.process_log(entry)))
        events.sort(key=lambda e: e.log_index)
        return TxResult(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            block_time=datetime.fromtimestamp(int(block["timestamp"]), tz=UTC),
            status=int(receipt["status"]),
            gas_used=int(receipt["gasUsed"]),
            sender=sender,
            contract_address=(
                str(receipt["contractAddress"]) if receipt.get("contractAddress") else None
            ),
            events=events,
        )

    # -- hooks of the backends ----------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        yield

    def _sent(self, raw: bytes, timestamp: int) -> None:
        return None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        yield

    @contextmanager
    def _reverts(self, artifact: Artifact) -> Iterator[None]:
        try:
            yield
        except ContractLogicError as exc:
            raise decode_revert(artifact, exc.data) from None

    def ensure_gas(self, address: str) -> None:
        return None


# -- embedded ---------------------------------------------------------------------------------


def _revert_bytes(exc: BaseException) -> bytes:
    """Find the revert data py-evm raised under eth-tester's wrapped errors."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        for arg in e.args:
            if isinstance(arg, (bytes, bytearray)):
                return bytes(arg)
            if isinstance(arg, str):
                text = arg.removeprefix("execution reverted: ")
                if text[:2] in ("b'", 'b"'):
                    # eth_call under eth-tester carries the revert data as its repr
                    with suppress(ValueError, SyntaxError):
                        value = ast.literal_eval(text)
                        if isinstance(value, bytes):
                            return value
            if isinstance(arg, BaseException):
                todo.append(arg)
        todo.extend([e.__cause__, e.__context__])
    return b""


class EmbeddedChain(_Web3Chain):
    """py-evm in this process; with a journal, the same chain for every process of a data dir."""

    kind = "embedded"

    def __init__(self, journal: Path | None = None) -> None:
        self._journal = journal
        self._lock = threading.RLock()
        self._offset = 0  # bytes of the journal replayed so far
        genesis_ts = self._genesis_timestamp()
        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": genesis_ts})
        self._backend = PyEVMBackend(genesis_parameters=params)
        self._tester = EthereumTester(self._backend)
        # The funded genesis account pays the gas of platform accounts (a development faucet).
        self._faucet = LocalKeySigner(self._backend.account_keys[0].to_bytes())
        super().__init__(Web3(EthereumTesterProvider(self._tester)))
        self._sync()

    @property
    def journal(self) -> Path | None:
        """Return the journal file, if this chain keeps one."""
        return self._journal

    def _genesis_timestamp(self) -> int:
        now = int(datetime.now(UTC).timestamp())
        if self._journal is None:
            return now
        self._journal.parent.mkdir(parents=True, exist_ok=True)
        with self._file_lock():
            if self._journal.exists() and self._journal.stat().st_size > 0:
                with self._journal.open("rb") as fh:
                    head = json.loads(fh.readline())
                return int(head["genesis_timestamp"])
            header = {"type": "mingyue-embedded-chain", "genesis_timestamp": now}
            self._journal.write_text(json.dumps(header) + "\n", encoding="utf-8")
            return now

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._journal is None:
            yield
            return
        lock_path = self._journal.with_suffix(".lock")
        with lock_path.open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _sync(self) -> None:
        """Replay what other processes appended to the journal since we last looked."""
        if self._journal is None or not self._journal.exists():
            return
        if self._journal.stat().st_size == self._offset:
            return
        with self._journal.open("rb") as fh:
            fh.seek(self._offset)
            if self._offset == 0:
                fh.readline()  # the header
            while line := fh.readline():
                if not line.endswith(b"\n"):
                    break  # an append in progress in another process
                entry = json.loads(line)
                self._replay(bytes.fromhex(entry["raw"][2:]), int(entry["ts"]))
                self._offset = fh.tell()
            if self._offset == 0:
                self._offset = fh.tell()

    def _replay(self, raw: bytes, timestamp: int) -> None:
        chain = self._backend.chain
        if timestamp > chain.get_canonical_head().timestamp:
            # Same block time as when it was first mined (contracts store block.timestamp).
            chain.header = chain.header.copy(timestamp=timestamp)
        self._tester.send_raw_transaction("0x" + raw.hex())

    @contextmanager
    def _guard(self) -> Iterator[None]:
        with self._lock:
            if not getattr(self, "_in_write", False):
                with self._file_lock():
                    self._sync()
            yield

    @contextmanager
    def _reverts(self, artifact: Artifact) -> Iterator[None]:
        try:
            yield
        except ContractLogicError as exc:
            raise decode_revert(artifact, exc.data) from None
        except TransactionFailed as exc:
            raise decode_revert(artifact, _revert_bytes(exc)) from None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock, self._file_lock():
            self._sync()
            self._in_write = True
            try:
                yield
            finally:
                self._in_write = False

    def _sent(self, raw: bytes, timestamp: int) -> None:
        if self._journal is None:
            return
        line = json.dumps({"raw": "0x" + raw.hex(), "ts": timestamp}) + "\n"
        with self._journal.open("ab") as fh:
            fh.write(line.encode())
            fh.flush()
        self._offset = self._journal.stat().st_size

    def ensure_gas(self, address: str) -> None:
        if self.balance(address) >= _FAUCET_MIN_WEI:
            return
        with self._writing():
            tx = {
                "to": to_checksum_address(address),
                "value": _FAUCET_TOPUP_WEI,
                "gas": 21000,
                "chainId": self.chain_id,
                "nonce": self.w3.eth.get_transaction_count(
                    to_checksum_address(self._faucet.address), "pending"
                ),
                "maxFeePerGas": int(self.w3.eth.gas_price) * 2 + 1,
                "maxPriorityFeePerGas": 1,
            }
            raw = self._faucet.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(raw)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
            block = self.w3.eth.get_block(receipt["blockNumber"])
            self._sent(raw, int(block["timestamp"]))


# -- JSON-RPC ---------------------------------------------------------------------------------


def check_rpc_url(url: str, allowed_hosts: Sequence[str]) -> str:
    """Accept an http(s) JSON-RPC URL whose host is on the allow-list (InvalidInput otherwise)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(
            "digitalasset.chain.bad_url", "the chain URL must be http(s)://host[:port]/path"
        )
    if parts.username or parts.password:
        raise InvalidInput("digitalasset.chain.bad_url", "the chain URL must not carry credentials")
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if host not in allowed:
        raise InvalidInput(
            "digitalasset.chain.host_not_allowed",
            f"chain host {host} is not in MINGYUE_DIGITALASSET__RPC_ALLOWED_HOSTS",
            host=host,
        )
    return url


class RpcChain(_Web3Chain):
    """An Ethereum JSON-RPC node reached over HTTP(S) on the allow-list."""

    kind = "rpc"

    def __init__(self, url: str, *, allowed_hosts: Sequence[str], timeout_s: float = 10.0) -> None:
        check_rpc_url(url, allowed_hosts)
        session = requests.Session()
        session.max_redirects = 0  # only the allowed host: a redirect elsewhere is not followed
        provider = HTTPProvider(url, request_kwargs={"timeout": timeout_s}, session=session)
        self.url = url
        super().__init__(Web3(provider))

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (requests.RequestException, ConnectionError, TimeoutError) as exc:
            raise ChainUnavailable(
                "digitalasset.chain.unavailable", f"chain node unreachable: {type(exc).__name__}"
            ) from None
        except ContractLogicError:
            raise
        except Web3Exception as exc:
            raise ChainUnavailable(
                "digitalasset.chain.unavailable", f"chain node error: {type(exc).__name__}"
            ) from None


__all__ = [
    "Chain",
    "ChainEvent",
    "ChainReverted",
    "ChainUnavailable",
    "EmbeddedChain",
    "LocalKeySigner",
    "RpcChain",
    "Signer",
    "TxResult",
    "check_rpc_url",
    "decode_revert",
    "log",
]
