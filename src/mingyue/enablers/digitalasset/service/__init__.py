"""Use cases of digitalasset: registry, custody, issuance, circulation, evidence, supervision.

Services never commit; each state change writes one audit entry in the caller's unit of work.
"""

from __future__ import annotations

from mingyue.sdk import JobHandler

from .circulation import list_holdings, list_transfers, transfer
from .custody import get_account, list_accounts, open_account, verify_kyc
from .evidence import (
    anchor_ledger_now,
    build_package,
    list_anchors,
    list_packages,
    package_path,
    run_anchor_ledger_job,
    verify_package,
    verify_upload,
)
from .issuance import create_collection, get_token, issue_token, list_collections, list_tokens
from .registry import decide, get_work, list_works, register_work, verify_work
from .regulator import freeze_account, freeze_token, pause_collection, reveal_identity, trace

JOBS: tuple[JobHandler, ...] = (run_anchor_ledger_job,)

__all__ = [
    "anchor_ledger_now",
    "build_package",
    "create_collection",
    "decide",
    "freeze_account",
    "freeze_token",
    "get_account",
    "get_token",
    "get_work",
    "issue_token",
    "list_accounts",
    "list_anchors",
    "list_collections",
    "list_holdings",
    "list_packages",
    "list_tokens",
    "list_transfers",
    "list_works",
    "open_account",
    "package_path",
    "pause_collection",
    "register_work",
    "reveal_identity",
    "run_anchor_ledger_job",
    "trace",
    "transfer",
    "verify_kyc",
    "verify_package",
    "verify_upload",
    "verify_work",
]
