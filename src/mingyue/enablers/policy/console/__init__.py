"""Console pages of policy (mounted at /policy), zh-CN first.

- ``/policy``: ask a question (answers cite their clauses), and — for an enterprise — the
  measures it may use and its unread notifications;
- ``/policy/measures``: measures and eligibility (an enterprise its own; officials any, with the
  counts over every profile and the push campaign form); ``/policy/profile``: the profile;
- ``/policy/pushes``: the enterprise's inbox and opt-out, the officials' campaigns (live job
  status), push log and 免申即享 approval lists;
- ``/policy/requests``: file a request (enterprise) / the dispatch desk (officials);
- ``/policy/indicators``: the digital-economy dashboard (ECharts), uploads and laggards;
- ``/policy/clauses/<id>``: one clause, the stable URL every citation links to.

Every form posts, then redirects (303) to what it made; forms that start work carry a one-time
key (``run_once``), so a reload or a double click starts nothing twice.
"""

from __future__ import annotations

from . import indicators, measures, requests
from .ask import router  # the ask page is the enabler's landing page ("" under /policy)

router.include_router(measures.router)
router.include_router(requests.router)
router.include_router(indicators.router)

__all__ = ["router"]
