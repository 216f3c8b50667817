"""What both benchmarks share: a PostgreSQL database of their own, created and dropped around the
run, the ``flask`` commands that fill it, and small statistics helpers."""

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_SERVER = os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
DEFAULT_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# Tables the benchmarks write; VACUUM (ANALYZE) leaves them as autovacuum would in steady state.
BUSY_TABLES = "services, billing_pendings, invoices, billing_batches, receipt_books"


def add_server_options(parser) -> None:
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help="PostgreSQL server URL without a database (default %(default)s)",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS, help="Redis database for the queue (%(default)s)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark database instead of dropping it"
    )


def bench_env(database_url: str, redis_url: str, **extra) -> dict:
    """The environment the app, the web server and the consumer run with."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ERP_FAILURE_RATE": "0",
        **{key: str(value) for key, value in extra.items()},
    }


@contextmanager
def scratch_database(server: str, keep: bool = False):
    """Creates lote_bench_<pid> on the server and yields its URL; drops it afterwards."""
    name = f"lote_bench_{os.getpid()}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"\nKept database {name} ({url})")
        else:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def flask(env: dict, *args: str, echo: bool = True) -> str:
    """Runs ``flask --app webapp ...`` in the benchmark environment; returns its output."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    lines = [line for line in result.stdout.splitlines() if " INFO " not in line]
    if echo:
        for line in lines:
            print(f"  {line}")
    return "\n".join(lines)


def vacuum(database_url: str, tables: str = BUSY_TABLES) -> float:
    """VACUUM (ANALYZE) the busy tables, as autovacuum would; returns the seconds it took."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {tables}"))
    engine.dispose()
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of them at or below."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """One line naming the machine the figures came from."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores ({cpu}){memory}; load average {load:.2f} at start"


def server_version(database_url: str) -> str:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        autovacuum = conn.execute(text("SHOW autovacuum")).scalar()
    engine.dispose()
    return f"PostgreSQL {version} (autovacuum {autovacuum})"
