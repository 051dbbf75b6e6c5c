"""The datasandbox's use cases in one import: catalogue, requests, verification, budget.

Each concern lives in its own module; this one only re-exports them for callers that import
``service`` (the API, the console, the CLI, the demo and the tests).
"""

from __future__ import annotations

from .budget import budgets, charges
from .catalogue import get_dataset, list_datasets, register_dataset, register_upload
from .requests import (
    get_request,
    list_requests,
    pending_for_owner,
    refusal_status,
    request_sql,
    run_request_job,
    submit_query,
    submit_training,
)
from .sandbox import open_engine, sql_engine
from .verification import psi, verify

__all__ = [
    "budgets",
    "charges",
    "get_dataset",
    "get_request",
    "list_datasets",
    "list_requests",
    "open_engine",
    "pending_for_owner",
    "psi",
    "refusal_status",
    "register_dataset",
    "register_upload",
    "request_sql",
    "run_request_job",
    "sql_engine",
    "submit_query",
    "submit_training",
    "verify",
]
