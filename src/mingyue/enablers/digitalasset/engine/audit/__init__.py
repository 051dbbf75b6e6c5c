"""Contract security audit: Slither through solc-js, our AST rules, DASP/SWC mapping, SARIF."""

from mingyue.enablers.digitalasset.engine.audit.mapping import CATEGORIES
from mingyue.enablers.digitalasset.engine.audit.report import (
    FileResult,
    Finding,
    audit_file,
    audit_path,
    solidity_files,
    to_sarif,
)
from mingyue.enablers.digitalasset.engine.audit.toolchain import Toolchain, discover

__all__ = [
    "CATEGORIES",
    "FileResult",
    "Finding",
    "Toolchain",
    "audit_file",
    "audit_path",
    "discover",
    "solidity_files",
    "to_sarif",
]
