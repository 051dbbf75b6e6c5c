"""Wash-trade monitor: sale tables in, ranked alerts with evidence out (pure; no database)."""

from mingyue.enablers.digitalasset.engine.monitor.alerts import (
    BASE_SEVERITY,
    PATTERNS,
    SEVERITIES,
    Alert,
    suppression_key,
)
from mingyue.enablers.digitalasset.engine.monitor.detectors import (
    MonitorConfig,
    MonitorResult,
    detect,
)
from mingyue.enablers.digitalasset.engine.monitor.sales import (
    OPTIONAL,
    REQUIRED,
    from_records,
    read_csv,
    read_json,
)

__all__ = [
    "BASE_SEVERITY",
    "OPTIONAL",
    "PATTERNS",
    "REQUIRED",
    "SEVERITIES",
    "Alert",
    "MonitorConfig",
    "MonitorResult",
    "detect",
    "from_records",
    "read_csv",
    "read_json",
    "suppression_key",
]
