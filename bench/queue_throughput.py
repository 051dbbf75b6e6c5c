"""Job-queue throughput: mingyue's own queue against RQ, Dramatiq, arq, SAQ and Procrastinate.

For each library and each job size, in the same run: start 2 worker processes, enqueue --n jobs
from one producer process (one enqueue call per job, as requests do), and time until the last
one has run. Then the drain: --n more jobs are queued while both (warm) workers are paused
(SIGSTOP), and the time from resuming them (SIGCONT) to the last completion gives the workers'
own rate. Printed per library and job size: jobs/s end to end (first enqueue to last
completion), jobs/s drained, the producer's enqueue rate, and the figures as ratios of ours.
Results go to --json as well.

- ``noop``: the job increments a Redis counter (how every library's completion is observed);
- ``small``: a 4 KiB argument, ~1 ms of hashing over it, a small dict returned (stored where
  the library stores results), then the counter.

Same services for all: Redis at --redis (db 15 by default, flushed by key prefix only), and
PostgreSQL at --pg for mingyue (its jobs are database rows; Redis only wakes workers) and for
Procrastinate (PostgreSQL only). Each gets a private database, created and dropped here.
Every worker runs one job at a time (mingyue's `mingyue worker` does), 2 worker processes each:
Dramatiq --threads 1, arq max_jobs=1, SAQ concurrency=1, Procrastinate concurrency=1, RQ's
default Worker (it forks a work horse per job) and its SimpleWorker (no fork). arq polls its
queue every poll_delay (0.5 s by default, a batch of max_jobs per poll): with max_jobs=1 that
caps it at 2 jobs/s per worker, so it runs with poll_delay=0.01 here (said in the output).

The peers live in their own virtualenv, never in the platform's extras:

    .venv/bin/python bench/queue_throughput.py --setup      # .venv-bench-queues from
                                                            # bench/queue_requirements.txt
    .venv/bin/python bench/queue_throughput.py [--n 1000] [--rounds 2] [--json out.json]

mingyue's side runs with the platform's own virtualenv (this interpreter).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench-queues"
REQUIREMENTS = Path(__file__).with_name("queue_requirements.txt")
LIBS = ("mingyue", "rq", "rq-simple", "dramatiq", "arq", "saq", "procrastinate")
KINDS = ("noop", "small")
WORKERS = 2
PAYLOAD = "x" * 4096
ARQ_POLL_S = 0.01

# ---- the jobs (identical work for every library) --------------------------------------------

_redis_client: Any = None


def _counter() -> Any:
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _redis_client


def _done() -> None:
    _counter().incr(os.environ["BENCH_COUNTER"])


def noop_job(*_args: Any, **_kw: Any) -> None:
    """The no-op job: count it done."""
    _done()


def small_job(payload: str = "", *_args: Any, **_kw: Any) -> dict[str, Any]:
    """The small job: ~1 ms of hashing over a 4 KiB argument, a small result, counted done."""
    data = payload.encode()
    digest = b""
    for _ in range(150):
        digest = hashlib.sha256(data + digest).digest()
    _done()
    return {"sha256": digest.hex(), "size": len(data)}


async def noop_async(_ctx: Any = None, *_args: Any, **_kw: Any) -> None:
    """arq/SAQ flavour of noop_job (they call coroutines with a context first)."""
    noop_job()


async def small_async(_ctx: Any = None, *_args: Any, payload: str = "", **_kw: Any) -> Any:
    """arq/SAQ flavour of small_job."""
    return small_job(payload)


def mingyue_noop(_ctx: Any, params: dict[str, Any]) -> None:
    """mingyue job kind bench.noop."""
    noop_job()


def mingyue_small(_ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """mingyue job kind bench.small."""
    return small_job(params["payload"])


# ---- per-library producer and worker (run in child processes) -------------------------------


def _queue_name() -> str:
    return os.environ["BENCH_QUEUE"]


def _mingyue_settings() -> Any:
    from mingyue.core import registries
    from mingyue.core.config import get_settings
    from mingyue.core.jobs.models import kinds

    kinds()  # discovery first, then the bench's own kinds beside the platform's
    for name, ref in (
        ("bench.noop", "queue_throughput:mingyue_noop"),
        ("bench.small", "queue_throughput:mingyue_small"),
    ):
        if name not in registries._job_kinds:
            registries.register_job_kind(name, ref)
    return get_settings()


def _dramatiq_actors() -> dict[str, Any]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"], namespace=_queue_name())
    dramatiq.set_broker(broker)
    return {
        "noop": dramatiq.actor(noop_job, actor_name="noop", queue_name="bench", max_retries=0),
        "small": dramatiq.actor(small_job, actor_name="small", queue_name="bench", max_retries=0),
    }


def _procrastinate_app() -> Any:
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_PG_URL"])
    )
    app.task(name="noop", queue="bench", pass_context=False)(noop_job)
    app.task(name="small", queue="bench", pass_context=False)(small_job)
    return app


def _saq_queue() -> Any:
    from saq import Queue

    return Queue.from_url(os.environ["BENCH_REDIS_URL"], name=_queue_name())


def produce(lib: str, kind: str, n: int) -> dict[str, float]:
    """Enqueue n jobs of a kind, one call each; return the start time and the enqueue time."""
    params = {"payload": PAYLOAD} if kind == "small" else {}
    if lib == "mingyue":
        from mingyue.core import jobs
        from mingyue.core.tenancy.access import SYSTEM
        from mingyue.core.uow import unit_of_work

        settings = _mingyue_settings()
        org = int(os.environ["BENCH_ORG"])
        t0 = time.time()
        for _ in range(n):
            with unit_of_work(SYSTEM, settings) as uow:
                jobs.enqueue(uow=uow, kind=f"bench.{kind}", params=params, organization_id=org)
        return {"t0": t0, "enqueue_s": time.time() - t0}
    if lib in ("rq", "rq-simple"):
        import redis
        from rq import Queue

        q = Queue(_queue_name(), connection=redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]))
        fn = f"queue_throughput.{kind}_job"
        t0 = time.time()
        for _ in range(n):
            q.enqueue(fn, **params)
        return {"t0": t0, "enqueue_s": time.time() - t0}
    if lib == "dramatiq":
        actor = _dramatiq_actors()[kind]
        t0 = time.time()
        for _ in range(n):
            actor.send(**params)
        return {"t0": t0, "enqueue_s": time.time() - t0}
    if lib == "arq":

        async def go() -> dict[str, float]:
            from arq import create_pool
            from arq.connections import RedisSettings

            pool = await create_pool(
                RedisSettings.from_dsn(os.environ["BENCH_REDIS_URL"]),
                default_queue_name=_queue_name(),
            )
            t0 = time.time()
            for _ in range(n):
                await pool.enqueue_job(kind, **params)
            took = time.time() - t0
            await pool.aclose()
            return {"t0": t0, "enqueue_s": took}

        return asyncio.run(go())
    if lib == "saq":

        async def go_saq() -> dict[str, float]:
            queue = _saq_queue()
            await queue.connect()
            t0 = time.time()
            for _ in range(n):
                await queue.enqueue(kind, **params)
            took = time.time() - t0
            await queue.disconnect()
            return {"t0": t0, "enqueue_s": took}

        return asyncio.run(go_saq())
    if lib == "procrastinate":
        app = _procrastinate_app()
        task = app.tasks[kind]
        with app.open():
            t0 = time.time()
            for _ in range(n):
                task.defer(**params)
            return {"t0": t0, "enqueue_s": time.time() - t0}
    raise SystemExit(f"unknown library {lib}")


def work(lib: str) -> None:
    """Run one worker of a library until SIGTERM."""
    if lib == "mingyue":
        from mingyue.core.jobs.redis_queue import RedisWorker

        w = RedisWorker(_mingyue_settings())
        signal.signal(signal.SIGTERM, lambda *_: w.stop())
        w.run()
        return
    if lib in ("rq", "rq-simple"):
        import redis
        from rq import Queue, SimpleWorker, Worker

        conn = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
        cls = SimpleWorker if lib == "rq-simple" else Worker
        cls([Queue(_queue_name(), connection=conn)], connection=conn).work(logging_level="WARNING")
        return
    if lib == "dramatiq":
        from dramatiq import Worker as DWorker

        _dramatiq_actors()
        import dramatiq

        w = DWorker(dramatiq.get_broker(), worker_threads=1)
        stop = False

        def _stop(*_: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        w.start()
        while not stop:
            time.sleep(0.1)
        w.stop()
        return
    if lib == "arq":
        from arq.connections import RedisSettings
        from arq.worker import func, run_worker

        class Settings:
            functions: ClassVar[list[Any]] = [
                func(noop_async, name="noop"),
                func(small_async, name="small"),
            ]
            redis_settings = RedisSettings.from_dsn(os.environ["BENCH_REDIS_URL"])
            queue_name = _queue_name()
            max_jobs = 1
            poll_delay = ARQ_POLL_S
            handle_signals = True

        run_worker(Settings)  # type: ignore[arg-type]
        return
    if lib == "saq":
        from saq import Worker as SWorker

        async def go() -> None:
            queue = _saq_queue()
            w = SWorker(
                queue,
                functions=[("noop", noop_async), ("small", small_async)],
                concurrency=1,
            )
            loop = asyncio.get_running_loop()
            stopping = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, stopping.set)
            task = asyncio.create_task(w.start())
            await stopping.wait()
            await w.stop()
            task.cancel()

        asyncio.run(go())
        return
    if lib == "procrastinate":
        app = _procrastinate_app()
        with app.open():
            app.run_worker(queues=["bench"], concurrency=1, install_signal_handlers=True)
        return
    raise SystemExit(f"unknown library {lib}")


# ---- the orchestrator ----------------------------------------------------------------------


def _python_for(lib: str, bench_python: Path) -> str:
    return sys.executable if lib == "mingyue" else str(bench_python)


def _pg_admin(pg: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(
        pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


def _create_db(pg: str, name: str) -> str:
    from sqlalchemy import text

    admin = _pg_admin(pg)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg.rsplit("/", 1)[0] + f"/{name}"


def _drop_db(pg: str, name: str) -> None:
    from sqlalchemy import text

    admin = _pg_admin(pg)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _prepare_mingyue(env: dict[str, str], data_dir: Path) -> str:
    """Migrate mingyue's private database and create the organization the jobs belong to."""
    code = (
        "from mingyue.core import migrate\n"
        "from mingyue.core.config import get_settings\n"
        "from mingyue.core.tenancy import accounts\n"
        "from mingyue.core.tenancy.access import SYSTEM\n"
        "from mingyue.core.tenancy.identity import uscc_check_char\n"
        "from mingyue.core.uow import unit_of_work\n"
        "s = get_settings(); migrate.upgrade(s)\n"
        "body = '91500000' + 'MA5UQB001'\n"
        "with unit_of_work(SYSTEM, s) as uow:\n"
        "    print(accounts.create_org(uow=uow, actor=SYSTEM, name='队列基准', kind='enterprise',"
        " uscc=body + uscc_check_char(body)).id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"mingyue set-up failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def _prepare_procrastinate(env: dict[str, str], bench_python: Path) -> None:
    code = (
        "import queue_throughput as q\n"
        "app = q._procrastinate_app()\n"
        "with app.open():\n"
        "    app.schema_manager.apply_schema()\n"
    )
    out = subprocess.run(
        [str(bench_python), "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"procrastinate set-up failed:\n{out.stderr[-3000:]}")


def _wait_count(r: Any, key: str, n: int, timeout: float, procs: list[Any]) -> float | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if int(r.get(key) or 0) >= n:
            return time.time()
        if any(p.poll() is not None for p in procs):
            return None
        time.sleep(0.005)
    return None


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def run_one(
    lib: str, kind: str, n: int, base_env: dict[str, str], bench_python: Path, logs: Path
) -> dict[str, Any]:
    """Start 2 workers of a library, warm them up, enqueue n jobs and time them to the last."""
    import redis

    run = uuid.uuid4().hex[:10]
    env = {
        **base_env,
        "BENCH_QUEUE": f"bench-{lib}-{run}",
        "BENCH_COUNTER": f"bench:{run}:done",
        "MINGYUE_JOB_QUEUE_PREFIX": f"bench-mingyue-{run}",
    }
    r = redis.Redis.from_url(env["BENCH_REDIS_URL"])
    py = _python_for(lib, bench_python)
    script = str(Path(__file__).resolve())
    log = (logs / f"{lib}-{kind}-{run}.log").open("ab")
    workers = [
        subprocess.Popen([py, script, "--worker", lib], env=env, stdout=log, stderr=log)
        for _ in range(WORKERS)
    ]
    try:
        # warm-up: both workers up and each library's imports done before the clock starts
        warm = subprocess.run(
            [py, script, "--produce", lib, "--kind", kind, "--n", str(4 * WORKERS)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if warm.returncode != 0:
            raise RuntimeError(f"{lib}: producer failed: {warm.stderr[-2000:]}")
        if _wait_count(r, env["BENCH_COUNTER"], 4 * WORKERS, 120, workers) is None:
            raise RuntimeError(f"{lib}: the workers did not run the warm-up jobs (see {log.name})")
        r.set(env["BENCH_COUNTER"], 0)
        prod = subprocess.run(
            [py, script, "--produce", lib, "--kind", kind, "--n", str(n)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if prod.returncode != 0:
            raise RuntimeError(f"{lib}: producer failed: {prod.stderr[-2000:]}")
        timing = json.loads(prod.stdout.strip().splitlines()[-1])
        end = _wait_count(r, env["BENCH_COUNTER"], n, 600, workers)
        if end is None:
            raise RuntimeError(f"{lib}: not all {n} jobs ran (see {log.name})")
        total = end - timing["t0"]
        # drain: n jobs queued while both (warm) workers are paused, then timed from resume to
        # the last completion: the workers' own rate, without the producer in the way
        r.set(env["BENCH_COUNTER"], 0)
        for w in workers:
            w.send_signal(signal.SIGSTOP)
        try:
            prod = subprocess.run(
                [py, script, "--produce", lib, "--kind", kind, "--n", str(n)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            t_resume = time.time()
            for w in workers:
                w.send_signal(signal.SIGCONT)
        if prod.returncode != 0:
            raise RuntimeError(f"{lib}: producer failed: {prod.stderr[-2000:]}")
        drained = _wait_count(r, env["BENCH_COUNTER"], n, 600, workers)
        if drained is None:
            raise RuntimeError(f"{lib}: not all {n} queued jobs ran (see {log.name})")
        return {
            "lib": lib,
            "kind": kind,
            "n": n,
            "jobs_per_s": n / total,
            "enqueue_per_s": n / timing["enqueue_s"],
            "drain_per_s": n / (drained - t_resume),
            "total_s": total,
        }
    finally:
        _stop(workers)
        log.close()
        keys = list(r.scan_iter(f"*{run}*", count=1000))
        if keys:
            r.delete(*keys)


def setup_venv() -> None:
    """Create the bench's own virtualenv with the peers (bench/queue_requirements.txt)."""
    if not (BENCH_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run(
        [str(BENCH_VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True
    )
    print(f"peers installed in {BENCH_VENV}")


def main() -> int:
    """Parse the arguments; run a child role or the whole comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", action="store_true", help="Create the peers' virtualenv.")
    ap.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--produce", choices=LIBS, help=argparse.SUPPRESS)
    ap.add_argument("--kind", choices=KINDS, default="noop", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1000, help="Jobs per library and kind.")
    ap.add_argument("--rounds", type=int, default=1, help="Rounds (libraries alternate).")
    ap.add_argument("--libs", default=",".join(LIBS), help="Comma-separated subset.")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    ap.add_argument(
        "--pg",
        default=os.environ.get("MINGYUE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--bench-python", type=Path, default=BENCH_VENV / "bin" / "python")
    ap.add_argument("--json", type=Path, help="Write the results here too.")
    args = ap.parse_args()
    if args.setup:
        setup_venv()
        return 0
    if args.worker:
        work(args.worker)
        return 0
    if args.produce:
        print(json.dumps(produce(args.produce, args.kind, args.n)))
        return 0

    libs = [x for x in args.libs.split(",") if x]
    if any(x != "mingyue" for x in libs) and not args.bench_python.exists():
        print(f"no {args.bench_python}: run with --setup first", file=sys.stderr)
        return 2
    pg = args.pg.replace("postgresql+psycopg://", "postgresql://", 1)
    suffix = os.getpid()
    dbs = {"mingyue": f"mingyue_qbench_{suffix}", "procrastinate": f"procrastinate_qbench_{suffix}"}
    tmp = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    base.update(
        BENCH_REDIS_URL=args.redis,
        PYTHONPATH=str(Path(__file__).parent),
        MINGYUE_ENV="test",
        MINGYUE_DATA_DIR=str(tmp / "data"),
        MINGYUE_REDIS_URL=args.redis,
        MINGYUE_JOB_MAX_RUNNING_PER_ORG="0",
        MINGYUE_LOG_LEVEL="WARNING",
    )
    results: list[dict[str, Any]] = []
    try:
        if "mingyue" in libs:
            base["MINGYUE_DATABASE_URL"] = _create_db(pg, dbs["mingyue"])
            base["BENCH_ORG"] = _prepare_mingyue(base, tmp / "data")
        if "procrastinate" in libs:
            base["BENCH_PG_URL"] = _create_db(pg, dbs["procrastinate"])
            _prepare_procrastinate(base, args.bench_python)
        for rnd in range(args.rounds):
            order = libs if rnd % 2 == 0 else list(reversed(libs))
            for kind in KINDS:
                for lib in order:
                    res = run_one(lib, kind, args.n, base, args.bench_python, tmp)
                    res["round"] = rnd + 1
                    results.append(res)
                    print(
                        f"round {rnd + 1} {kind:5} {lib:13} {res['jobs_per_s']:8.1f} jobs/s "
                        f"(enqueue {res['enqueue_per_s']:8.1f}/s, drain "
                        f"{res['drain_per_s']:8.1f}/s, {res['total_s']:.2f} s)",
                        flush=True,
                    )
    finally:
        for lib, name in dbs.items():
            if lib in libs:
                _drop_db(pg, name)
    _report(results, libs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _report(results: list[dict[str, Any]], libs: list[str]) -> None:
    print(
        f"\n{WORKERS} workers, one job at a time each; median of rounds; "
        f"arq poll_delay={ARQ_POLL_S}"
    )
    print(
        f"{'library':13} {'kind':5} {'end-to-end/s':>12} {'× mingyue':>10} "
        f"{'drain/s':>9} {'× mingyue':>10} {'enqueue/s':>10}"
    )
    for kind in KINDS:
        rows = {lib: [r for r in results if r["lib"] == lib and r["kind"] == kind] for lib in libs}
        med = {
            lib: {
                m: statistics.median(r[m] for r in rs)
                for m in ("jobs_per_s", "drain_per_s", "enqueue_per_s")
            }
            for lib, rs in rows.items()
            if rs
        }
        ours = med.get("mingyue")
        for lib, v in med.items():
            e2e = f"{v['jobs_per_s'] / ours['jobs_per_s']:9.2f}×" if ours else "         -"
            drain = f"{v['drain_per_s'] / ours['drain_per_s']:9.2f}×" if ours else "         -"
            print(
                f"{lib:13} {kind:5} {v['jobs_per_s']:12.1f} {e2e} {v['drain_per_s']:9.1f} "
                f"{drain} {v['enqueue_per_s']:10.1f}"
            )


if __name__ == "__main__":
    sys.exit(main())
