"""An ASGI app with only the NGSI-LD router (platform auth and error handlers included).

``bench/ngsi_ld_conformance.sh`` uses ``mingyue serve``; with ``NGSI_BENCH_APP=router`` it serves
this app instead — for a checkout where another enabler does not load yet. Run with
``uvicorn --factory bench.ngsi_ld.router_app:create``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mingyue.core.config import get_settings
from mingyue.core.plugins import registry
from mingyue.enablers.citygov.ngsi_api import router
from mingyue.enablers.citygov.service import ngsi_periodic
from mingyue.web.errors import install_error_handlers


def create() -> FastAPI:
    """Build the app."""
    registry()  # registers permissions and audit events of every declared enabler

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        task = asyncio.create_task(ngsi_periodic.run(stopping))  # periodic subscriptions
        yield
        stopping.set()
        await task

    app = FastAPI(lifespan=lifespan)
    app.state.settings = get_settings()
    install_error_handlers(app)
    app.include_router(router, prefix="/ngsi-ld/v1")

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
