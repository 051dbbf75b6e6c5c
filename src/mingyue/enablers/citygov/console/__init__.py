"""Console pages of citygov (mounted at /citygov), one module an area.

- ``overview``: the landing page (each role to its page) and 一屏通览, the city at a glance (map,
  funnel, ranking, live tiles);
- ``alarms``: the device alarms panel of the overview (live), acknowledge and clear;
- ``desk``: the command centre's dispatch desk, 信息采集, a case's page and its steps, photos;
- ``tasks``: a unit's tasks (mobile-friendly), 接单, 处理反馈 with photos, 回退;
- ``citizen``: the citizen's report page (随手拍), their reports and rewards;
- ``ranking``: the KPI ranking and the month-end evaluation (a job with live status);
- ``sharing``: cross-department sharing subscriptions and the delivery log.

Every form posts, then redirects (303) to what it changed; forms that start work carry a one-time
key (``run_once``), so a reload or a double click never takes a step twice. The overview and the
desk refresh themselves (htmx polling); the month-end evaluation shows its job's live status.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import alarms, citizen, desk, overview, ranking, sharing, tasks

router = APIRouter(include_in_schema=False)
# The areas' routes are taken over one by one, in this order, rather than included: an included
# router's routes stay out of ``app.state.routes`` (FastAPI 0.165 includes lazily), which the
# foreign-tenant walk and the request metrics' route labels read.
for _area in (overview, alarms, desk, tasks, citizen, ranking, sharing):
    router.routes.extend(_area.router.routes)

__all__ = ["router"]
