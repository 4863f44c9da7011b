"""``tapdesk bench ledger``: the cost of one award, and awards per second from many processes.

- ``award_p99_ms``: one award on SQLite with millions of transfers already in the ledger.
- ``sqlite_4proc_awards_per_s`` / ``sqlite_4proc_user_errors``: four processes on one file.
- with a PostgreSQL ``--db``: ``pg_8proc_awards_per_s``, and ``raw_psycopg_8proc_tx_per_s`` for the
  same transaction shape written with plain psycopg in the same run (the ratio is what counts on
  a shared machine), and ``violations`` from verify after both runs.

A "user error" is a failure a staff member would see (database unreachable, a conflict, an
unexpected exception), never a business refusal.
"""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from store.bench.common import percentile, scratch_database, seed_people
from store.context import Actor
from store.errors import Refused
from store.ledger import forget_cached_accounts
from store.points import award
from store.service import Store

__all__ = ["run_ledger_bench"]


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """What one benchmark process did."""

    done: int
    user_errors: int
    refusals: int
    seconds: float


def _fill_ledger(path: Path, transfers: int, accounts: int) -> None:
    """Write ``transfers`` consistent transfers straight into the SQLite file (seed data only)."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous = OFF")  # throw-away seed data: durability does not matter
    now = "2026-11-27 10:00:00.000000"
    issuer = raw.execute(
        "INSERT INTO account (kind, station, balance, floor) VALUES ('issuer', 'bench-seed', 0, NULL) "
        "RETURNING id"
    ).fetchone()[0]
    account_ids = [r[0] for r in raw.execute("SELECT id FROM account WHERE kind = 'attendee'")]
    per_op = 1000
    rng = random.Random(7)
    totals: dict[int, int] = dict.fromkeys(account_ids, 0)
    batch: list[tuple[Any, ...]] = []
    for start in range(0, transfers, per_op):
        op_id = f"seed-{start // per_op}"
        raw.execute(
            "INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result) "
            "VALUES (?, 'seed', 'bench-seed', NULL, ?, ?, '')",
            (op_id, op_id, now),
        )
        for seq in range(min(per_op, transfers - start)):
            account = account_ids[rng.randrange(len(account_ids))]
            amount = rng.randint(1, 30)
            totals[account] += amount
            batch.append((op_id, seq, issuer, account, amount, now))
        if len(batch) >= 100_000:
            _insert_transfers(raw, batch)
            batch.clear()
    _insert_transfers(raw, batch)
    raw.executemany(
        "UPDATE account SET balance = ? WHERE id = ?", [(v, k) for k, v in totals.items()]
    )
    raw.execute("UPDATE account SET balance = ? WHERE id = ?", (-sum(totals.values()), issuer))
    raw.commit()
    raw.close()
    del accounts


def _insert_transfers(raw: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> None:
    raw.executemany(
        "INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code, "
        "reference, station, staff, correlation_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'activity', '', 'bench-seed', NULL, 'seed', ?)",
        batch,
    )


def _award_worker(args: tuple[str, str, list[str], float, int]) -> WorkerResult:
    url, station, uids, seconds, seed = args
    forget_cached_accounts()
    store = Store.open(url, migrate=False)
    rng = random.Random(seed)
    done = user_errors = refusals = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        actor = Actor(station=station, staff="bench")
        try:
            award(store, actor, rng.choice(uids), rng.randint(1, 20), "activity")
            done += 1
        except Refused:
            refusals += 1
        except Exception:
            user_errors += 1
    elapsed = time.perf_counter() - started
    store.close()
    return WorkerResult(done, user_errors, refusals, elapsed)


def _run_processes(url: str, uids: list[str], processes: int, seconds: float) -> tuple[float, int]:
    ctx = multiprocessing.get_context("spawn")
    jobs = [(url, f"bench-{n}", uids, seconds, n) for n in range(processes)]
    with ctx.Pool(processes) as pool:
        results = pool.map(_award_worker, jobs)
    total = sum(r.done for r in results)
    elapsed = max(r.seconds for r in results)
    return total / elapsed, sum(r.user_errors for r in results)


def _raw_award_sql() -> str:
    """store.points' award statement in psycopg's parameter style."""
    import re

    from store.points import _AWARD_CTE

    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", _AWARD_CTE.text)


_RAW_AWARD = _raw_award_sql()


def _raw_worker(args: tuple[str, str, list[str], float, int]) -> int:
    """The award's transaction shape in plain psycopg: the reference point for the ORM's cost."""
    import psycopg

    url, station, uids, seconds, seed = args
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rng = random.Random(seed)
    done = 0
    with psycopg.connect(dsn) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO account (kind, station, balance, floor) VALUES ('issuer', %s, 0, NULL) "
            "ON CONFLICT DO NOTHING",
            (station + "-raw",),
        )
        cur.execute(
            "SELECT id FROM account WHERE kind = 'issuer' AND station = %s", (station + "-raw",)
        )
        issuer = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO station (name, reader_state, change_seq, preferences) "
            "VALUES (%s, '', 0, '') ON CONFLICT DO NOTHING",
            (station,),
        )
        conn.commit()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            op = uuid.uuid4().hex
            uid = rng.choice(uids)
            amount = rng.randint(1, 20)
            # The same shape as store.points.award on PostgreSQL: the one statement (claim,
            # both balances, the transfer, the station's counter), then the saved result.
            cur.execute(
                _RAW_AWARD,
                {
                    "uid": uid,
                    "op_id": op,
                    "station": station,
                    "staff": "bench",
                    "correlation_id": op,
                    "amount": amount,
                    "issuer": issuer,
                    "code": "activity",
                    "reference": "",
                },
            )
            cur.fetchone()
            cur.execute("UPDATE operation SET result = %s WHERE op_id = %s", ("{}", op))
            conn.commit()
            done += 1
    return done


def _run_raw(url: str, uids: list[str], processes: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("spawn")
    jobs = [(url, f"raw-{n}", uids, seconds, n) for n in range(processes)]
    with ctx.Pool(processes) as pool:
        counts = pool.map(_raw_worker, jobs)
    return sum(counts) / seconds


def run_ledger_bench(
    db_url: str | None, *, transfers: int = 5_000_000, seconds: float = 5.0, samples: int = 2000
) -> dict[str, Any]:
    """Run every part that applies and return the figures."""
    figures: dict[str, Any] = {}
    # 1. One award on SQLite with a big ledger.
    with scratch_database(None, "award") as url:
        store = Store.open(url, migrate=False)
        uids = seed_people(store, 1000)
        store.close()
        path = Path(make_url(url).database or "")
        started = time.perf_counter()
        _fill_ledger(path, transfers, 1000)
        figures["seed_transfers"] = transfers
        figures["seed_s"] = round(time.perf_counter() - started, 1)
        forget_cached_accounts()
        store = Store.open(url, migrate=False)
        rng = random.Random(1)
        timings = []
        for n in range(samples):
            if n % 100 == 0:
                store.db.checkpoint()  # what the station's heartbeat does every few seconds
            actor = Actor(station="bench-award", staff="bench")
            t0 = time.perf_counter()
            award(store, actor, rng.choice(uids), rng.randint(1, 20), "activity")
            timings.append((time.perf_counter() - t0) * 1000)
        figures["award_p50_ms"] = round(percentile(timings, 50), 3)
        figures["award_p99_ms"] = round(percentile(timings, 99), 3)
        report = store.verify()
        figures["sqlite_violations"] = len(report.violations)
        store.close()
    # 2. Four processes on one SQLite file.
    with scratch_database(None, "sqlite4") as url:
        store = Store.open(url, migrate=False)
        uids = seed_people(store, 1000)
        store.close()
        rate, errors = _run_processes(url, uids, 4, seconds)
        figures["sqlite_4proc_awards_per_s"] = round(rate)
        figures["sqlite_4proc_user_errors"] = errors
        store = Store.open(url, migrate=False)
        figures["sqlite_violations"] += len(store.verify().violations)
        store.close()
    figures["violations"] = figures["sqlite_violations"]
    # 3. PostgreSQL, when given.
    if db_url and make_url(db_url).get_backend_name() == "postgresql":
        with scratch_database(db_url, "pg8") as url:
            store = Store.open(url, migrate=False)
            uids = seed_people(store, 1000)
            store.close()
            rate, errors = _run_processes(url, uids, 8, seconds)
            figures["pg_8proc_awards_per_s"] = round(rate)
            figures["pg_8proc_user_errors"] = errors
            figures["raw_psycopg_8proc_tx_per_s"] = round(_run_raw(url, uids, 8, seconds))
            figures["pg_to_raw_ratio"] = round(
                rate / max(figures["raw_psycopg_8proc_tx_per_s"], 1), 2
            )
            store = Store.open(url, migrate=False)
            pg_violations = len(store.verify().violations)
            store.close()
            figures["pg_violations"] = pg_violations
            figures["violations"] += pg_violations
    return figures
