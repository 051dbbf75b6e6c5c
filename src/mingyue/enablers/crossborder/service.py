"""Use cases of the crossborder enabler, one module per concern; this module names them all.

- :mod:`.filings`: assessments (the legal path of a transfer) and filings as cases, with hooks
- :mod:`.transfers`: declared transfers
- :mod:`.scans`: PII scans of local files and uploads; :mod:`.scan_jobs`: the large ones as jobs
- :mod:`.flows`: the flow monitor, its alert cases and its job
- :mod:`.cases`: the case kinds (light: only the sdk)
"""

from __future__ import annotations

from .cases import (
    EXPIRY_WARNING_DAYS,
    FILING_KINDS,
    FLOW_ALERT_CASE,
    PIPIA_CASE,
    SECURITY_ASSESSMENT_CASE,
    STANDARD_CONTRACT_CASE,
    VALIDITY_DAYS,
)
from .filings import (
    create_assessment,
    create_filing,
    decide,
    expiring_filings,
    filing_of_case,
    get_assessment,
    get_filing,
    list_assessments,
    list_filings,
    on_approve,
    on_reject,
    on_resubmit,
    on_return,
    on_withdraw,
    warn_expiring,
)
from .flows import (
    build_monitor,
    enqueue_watch,
    flow_counts,
    flow_store_path,
    raise_alert_cases,
    run_watch_job,
    watch_source,
)
from .scan_jobs import run_scan_job
from .scans import (
    NER_AUTO_MAX_FILE_BYTES,
    NER_MAX_UPLOAD_BYTES,
    ScanLimits,
    get_scan,
    get_scan_job,
    hash_key,
    list_scans,
    record_scan,
    run_scan,
    scan_limits,
    scan_local,
    scan_path,
    scan_upload,
)
from .transfers import declare_transfer, list_transfers

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "FILING_KINDS",
    "FLOW_ALERT_CASE",
    "NER_AUTO_MAX_FILE_BYTES",
    "NER_MAX_UPLOAD_BYTES",
    "PIPIA_CASE",
    "SECURITY_ASSESSMENT_CASE",
    "STANDARD_CONTRACT_CASE",
    "VALIDITY_DAYS",
    "ScanLimits",
    "build_monitor",
    "create_assessment",
    "create_filing",
    "decide",
    "declare_transfer",
    "enqueue_watch",
    "expiring_filings",
    "filing_of_case",
    "flow_counts",
    "flow_store_path",
    "get_assessment",
    "get_filing",
    "get_scan",
    "get_scan_job",
    "hash_key",
    "list_assessments",
    "list_filings",
    "list_scans",
    "list_transfers",
    "on_approve",
    "on_reject",
    "on_resubmit",
    "on_return",
    "on_withdraw",
    "raise_alert_cases",
    "record_scan",
    "run_scan",
    "run_scan_job",
    "run_watch_job",
    "scan_limits",
    "scan_local",
    "scan_path",
    "scan_upload",
    "warn_expiring",
    "watch_source",
]
