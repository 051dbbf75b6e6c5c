"""No blocking work inside an ``async def`` route (GitHub issue 12, item 4).

An ``async def`` endpoint runs on the event loop: one CPU-bound call inside it (a PII scan of an
upload) froze every other request, ``/api/health`` included, for as long as it ran. A plain
``def`` endpoint runs in the threadpool. So, over every route the app mounts:

- an enabler's endpoint is a plain ``def``, unless ``ASYNC_ALLOWED`` names it with a reason;
- any ``async def`` endpoint of mingyue (core or enabler) calls nothing it does not ``await``,
  except the cheap, non-blocking calls in ``CHEAP_CALLS``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

# "module:qualname" of an enabler endpoint that must be async -> why it is safe.
ASYNC_ALLOWED: dict[str, str] = {
    "mingyue.enablers.citygov.open311:post_request": "Open311 posts arbitrary attribute[...] form "
    "fields; it reads the form, then does its work through run_in_threadpool",
    "mingyue.enablers.policy.console.measures:save_profile": "reads repeated checkbox fields, "
    "then saves and renders through run_in_threadpool",
}

# Calls an async endpoint may make without awaiting them: constant-time, no I/O.
CHEAP_CALLS = frozenset(
    {
        "bool",
        "dict",
        "float",
        "getattr",
        "hasattr",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "set",
        "str",
        "tuple",
        "Depends",
        "HTTPException",
        "HTMLResponse",
        "JSONResponse",
        "PlainTextResponse",
        "RedirectResponse",
        "Response",
        # methods, by their last name
        "get",
        "items",
        "keys",
        "values",
        "startswith",
        "endswith",
        "strip",
        "lower",
        "upper",
        "model_dump",
    }
)


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Yield (path, endpoint) of every route, through included routers (any FastAPI layout)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:  # FastAPI >= 0.165 keeps included routers as branches
            ctx = getattr(r, "include_context", None)
            yield from _routes(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""))
            continue
        endpoint = getattr(r, "endpoint", None)
        if endpoint is not None:
            yield prefix + str(getattr(r, "path", "?")), endpoint
        elif getattr(r, "routes", None):  # a Mount of a router
            yield from _routes(list(r.routes), prefix + str(getattr(r, "path", "")))


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return "<expr>"


def blocking_calls(fn: Callable[..., Any]) -> list[str]:
    """Return the calls an async function makes without awaiting them, outside CHEAP_CALLS."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef))
    awaited = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Await)}
    found = []
    for stmt in node.body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Call) and id(n) not in awaited:
                name = _call_name(n)
                if name not in CHEAP_CALLS:
                    found.append(f"{name}() at line {n.lineno}")
    return found


def _ref(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def test_the_walk_sees_every_route(app: Any) -> None:
    paths = {p for p, _ in _routes(app.routes)}
    assert len(paths) > 100
    assert {"/api/health", "/api/crossborder/scans", "/api/jobs/{job_id}"} <= paths


def test_enabler_routes_are_plain_def(app: Any) -> None:
    offenders = [
        f"{path} -> {_ref(fn)}"
        for path, fn in _routes(app.routes)
        if fn.__module__.startswith("mingyue.enablers.")
        and inspect.iscoroutinefunction(fn)
        and _ref(fn) not in ASYNC_ALLOWED
    ]
    assert not offenders, (
        "enabler endpoints run on the event loop; make them plain `def` (threadpool) or add "
        f"them to ASYNC_ALLOWED with a reason: {offenders}"
    )


def test_async_routes_await_everything_they_call(app: Any) -> None:
    offenders = {}
    for path, fn in _routes(app.routes):
        if fn.__module__.startswith("mingyue") and inspect.iscoroutinefunction(fn):
            calls = blocking_calls(fn)
            if calls:
                offenders[f"{path} -> {_ref(fn)}"] = calls
    assert not offenders, f"async endpoints that block the event loop: {offenders}"


def test_the_checker_flags_a_blocking_call() -> None:
    def scan_file(_: object) -> None: ...

    async def bad(request: Any) -> dict[str, Any]:
        body = await request.body()
        scan_file(body)
        return {"n": len(body)}

    async def good(request: Any) -> dict[str, Any]:
        body = await request.body()
        return {"n": len(body), "ok": request.query_params.get("x")}

    assert [c.split("(")[0] for c in blocking_calls(bad)] == ["scan_file"]
    assert blocking_calls(good) == []
