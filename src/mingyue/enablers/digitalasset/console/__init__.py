"""Console pages of digitalasset (mounted at /digitalasset), one module an area.

- ``works``: works and their review, a work's page (hashes, certificate, re-verification);
- ``evidence``: a work's evidence package (build, anchor, download) and the anchors;
- ``issuance``: collections, tokens, holdings and transfers (a refusal shows its rule and
  citation);
- ``supervision``: real-name verification for the operator's staff, the regulator's view
  (identity, trace, switches);
- ``monitor``: wash-trade monitoring (upload an export, alerts, an alert's sales and graph, the
  analyst's verdict, address labels);
- ``audit``: contract audit (upload, a job with live status, the report by DASP category, SARIF).

Every form posts, then redirects (303) to what it made or changed; forms that start work carry a
one-time key (``run_once``) so a reload or a double click never issues, transfers or anchors
twice. The ledger anchoring and the contract audit run as jobs whose status the page polls.
"""

from __future__ import annotations

from . import audit, evidence, issuance, monitor, supervision
from .works import router  # the works list is the enabler's landing page ("" under /digitalasset)

router.include_router(evidence.router)
router.include_router(issuance.router)
router.include_router(supervision.router)
router.include_router(monitor.router)
router.include_router(audit.router)

__all__ = ["router"]
