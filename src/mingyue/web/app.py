"""The FastAPI app factory: composes the core apps' and enablers' routers; nothing else lives here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.routing import Route

from mingyue import __version__
from mingyue.core import jobs
from mingyue.core.config import Settings, get_settings
from mingyue.core.ledger import audit
from mingyue.core.plugins import load_ref, registry
from mingyue.web import pages, probes
from mingyue.web.console import environment
from mingyue.web.deps import enabler_enabled, enabler_enabled_if_signed_in
from mingyue.web.errors import install_error_handlers
from mingyue.web.logs import install_logging
from mingyue.web.metrics import RequestContext
from mingyue.web.middleware import (
    BodySizeLimit,
    SecurityHeaders,
    db_out_of_range_to_422,
    install_csp_nonces,
    overflow_to_422,
)
from mingyue.web.services import BackgroundServices

log = logging.getLogger(__name__)


def _flat_routes(routes: Any, prefix: str) -> Iterator[tuple[str, set[str], Any]]:
    """Yield every route with its full path, descending into routers an enabler's router
    includes (FastAPI keeps an included router as one entry of ``routes``)."""
    for r in routes:
        if hasattr(r, "methods"):
            yield prefix + r.path, set(r.methods or ()), r
            continue
        inner, ctx = getattr(r, "original_router", None), getattr(r, "include_context", None)
        if inner is not None and ctx is not None:
            yield from _flat_routes(inner.routes, prefix + str(ctx.prefix or ""))


def _mount(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.include_router(probes.router)
    mounted: list[tuple[str, set[str], Any]] = [
        (r.path, set(r.methods or ()), r)
        for r in (*pages.router.routes, *probes.router.routes)
        if isinstance(r, Route)
    ]
    reg = registry()
    # An installed enabler that cannot load (a missing extra): named on the console for the
    # operator and in the log with the command that fixes it, never a silent absence.
    unavailable: dict[str, dict[str, str]] = {
        key: {"module": err, "hint": f"pip install 'mingyue[{key}]'"}
        for key, err in reg.errors.items()
    }
    app.state.unavailable_enablers = unavailable
    for en in reg.ordered():
        parts: list[tuple[str, str | None, str]] = [
            ("router", en.router, f"/api/{en.key}"),
            ("console", en.console, f"/{en.key}"),
            *(("mount", ref, prefix) for prefix, ref in en.mounts.items()),
        ]
        for kind, ref, own_prefix in parts:
            if not ref:
                continue
            try:
                router = load_ref(ref)
            except ModuleNotFoundError as exc:
                missing = exc.name or ""
                if missing == "mingyue" or missing.startswith("mingyue."):
                    raise  # our own module is missing: a bug, not a missing extra
                hint = f"pip install 'mingyue[{','.join(en.extras) or en.key}]'"
                log.error(
                    "enabler %s unavailable: its %s needs module %s (%s)",
                    en.key,
                    kind,
                    missing,
                    hint,
                )
                unavailable[en.key] = {"module": missing, "hint": hint}
                continue
            if en.core:
                prefix = "/api" if kind == "router" else ""
                app.include_router(router, prefix=prefix)
                mounted.extend(_flat_routes(router.routes, prefix))
            else:
                prefix = own_prefix
                tags: list[str | Enum] | None = [en.key] if kind != "console" else None
                app.include_router(
                    router,
                    prefix=prefix,
                    tags=tags,
                    dependencies=[
                        Depends(
                            enabler_enabled_if_signed_in(en.key)
                            if kind == "mount"
                            else enabler_enabled(en.key)
                        )
                    ],
                    include_in_schema=kind != "console",
                )
                mounted.extend(_flat_routes(router.routes, prefix))
    # Every mounted route with its full path (the foreign-tenant walk test iterates these).
    app.state.routes = mounted


def warm_routes(app: FastAPI) -> int:
    """Build every included router's per-route context now; return how many routes were built.

    FastAPI (0.16x) builds the contexts of an included router's routes (their pydantic validators)
    on the first request that reaches it, under a lock, on the event loop: about 0.5 s for the
    platform's ~500 routes, during which every other request of the process waits (a health probe
    answered in 1.4 s under load). A serving process does it at start-up instead. Without those
    internals (another FastAPI) there is nothing to build and nothing is done.
    """
    built = 0

    def walk(routes: Any) -> None:
        nonlocal built
        for r in routes:
            contexts = getattr(r, "effective_route_contexts", None)
            if contexts is None:
                continue
            built += sum(1 for _ in contexts())
            low = getattr(r, "effective_low_priority_routes", None)
            if low is not None:
                low()

    walk(app.router.routes)
    return built


def create_app(
    settings: Settings | None = None,
    *,
    start_workers: bool = True,
    start_services: bool | None = None,
    warm: bool | None = None,
) -> FastAPI:
    """Build the platform's ASGI app for these settings.

    ``start_workers`` starts the embedded job runner (without Redis); ``start_services`` (default:
    the same as ``start_workers``) runs the enablers' background services in this process;
    ``warm`` (default: the same as ``start_services``) builds every route's request context at
    start-up (``warm_routes``) so that no first request stalls the process.
    """
    settings = settings or get_settings()
    install_logging(settings)
    with_services = start_workers if start_services is None else start_services
    warm_up = with_services if warm is None else warm

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            t0 = time.perf_counter()
            n = await asyncio.to_thread(warm_routes, app)
            log.debug("built %d route contexts in %.2f s", n, time.perf_counter() - t0)
        services = BackgroundServices.from_registry() if with_services else None
        if services is not None:
            services.start()
        runner = None
        if start_workers and not settings.redis_url and settings.embedded_workers > 0:
            runner_cls: Any = getattr(jobs, "EmbeddedRunner", None)
            if runner_cls is not None:
                runner = runner_cls(settings, threads=settings.embedded_workers)
                runner.start()
        try:
            yield
        finally:
            if services is not None:
                await services.stop()
            if runner is not None:
                runner.stop()
            # The last entries of this process get a signed head (docs/security.md, "Ledger").
            audit.seal_head(settings, force=True)

    app = FastAPI(
        title="mingyue",
        version=__version__,
        lifespan=lifespan,
        debug=settings.debug,
        description="明月湖π赋能平台 · Mingyue Lake π enabling platforms",
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings

    install_error_handlers(app)
    app.add_exception_handler(OverflowError, overflow_to_422)
    app.add_exception_handler(DataError, db_out_of_range_to_422)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(SecurityHeaders)  # a 413 carries the headers too
    # Outermost: the request id and the latency cover every other layer, a 413 included.
    app.add_middleware(RequestContext, access=settings.access_log)
    install_csp_nonces(environment())
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _mount(app)
    return app


def _operation_id(route: Any) -> str:
    tag = route.tags[0] if getattr(route, "tags", None) else "core"
    name = route.name
    return name if name.startswith(f"{tag}-") else f"{tag}-{name}"
