"""What every digitalasset use case shares: the chain, the options, platform keys, lookups."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TypeVar

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import select

from mingyue.enablers.digitalasset.adapters.chain import Chain, EmbeddedChain, RpcChain
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetAccount,
    DigitalassetDeployment,
)
from mingyue.enablers.digitalasset.settings import DigitalassetSettings, options
from mingyue.sdk import Base, Settings, UnitOfWork, get_visible
from mingyue.sdk.errors import InvalidInput

T = TypeVar("T", bound=Base)

_CHAINS: OrderedDict[str, Chain] = OrderedDict()
_CHAINS_LOCK = threading.Lock()
# Tests open a chain per data dir: keep a few, drop the oldest.
_MAX_CHAINS = 4


def opts(uow: UnitOfWork) -> DigitalassetSettings:
    """Return the enabler's validated options for this unit of work."""
    return options(uow.settings)


def journal_path(settings: Settings) -> Path:
    """Return the embedded chain's journal in this data dir."""
    return settings.data_dir / "digitalasset" / "chain" / "journal.jsonl"


def chain_for(settings: Settings) -> Chain:
    """Return the chain of these settings (one per data dir or URL in this process)."""
    o = options(settings)
    key = f"rpc:{o.rpc_url}" if o.chain == "rpc" else f"embedded:{journal_path(settings)}"
    with _CHAINS_LOCK:
        chain = _CHAINS.get(key)
        if chain is None:
            if o.chain == "rpc":
                chain = RpcChain(
                    o.rpc_url, allowed_hosts=o.rpc_allowed_hosts, timeout_s=o.rpc_timeout_s
                )
            else:
                chain = EmbeddedChain(journal_path(settings))
            _CHAINS[key] = chain
            while len(_CHAINS) > _MAX_CHAINS:
                _CHAINS.popitem(last=False)
        else:
            _CHAINS.move_to_end(key)
        return chain


def platform_contract(uow: UnitOfWork, chain: Chain, name: str) -> DigitalassetDeployment | None:
    """Return the platform's deployment of a contract on this chain, if any."""
    return uow.session.scalars(
        select(DigitalassetDeployment).where(
            DigitalassetDeployment.name == name,
            DigitalassetDeployment.chain_id == chain.chain_id,
        )
    ).first()


def load(uow: UnitOfWork, model: type[T], obj_id: int, permission: str | None = None) -> T:
    """Load one object the actor may see (NotFound for absent and foreign alike)."""
    return get_visible(uow, model, obj_id, permission, key="digitalasset.not_found")


def account_by_address(uow: UnitOfWork, address: str) -> DigitalassetAccount | None:
    """Return the custody account of an address in the actor's scope (case-insensitive)."""
    return uow.session.scalars(
        select(DigitalassetAccount).where(DigitalassetAccount.address == norm_address(address))
    ).first()


def norm_address(address: str) -> str:
    """Return an address in its checksummed form (InvalidInput when it is not one)."""
    if not is_address(address.strip()):
        raise InvalidInput(
            "digitalasset.bad_address", f"not a chain address: {address[:64]}", field="address"
        )
    return str(to_checksum_address(address.strip()))
