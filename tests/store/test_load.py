"""A short load of several station processes on each engine, then the invariants."""

from __future__ import annotations

from typing import Any

import pytest

from store.bench.load import MIX, run_load
from tests.conftest import PG_URL


def _check(figures: dict[str, Any]) -> None:
    assert figures["violations"] == 0, figures.get("violation_lines")
    assert figures["user_errors"] == 0, figures.get("error_samples")
    assert figures["operations"] > 0
    kinds = set(figures["per_kind"])
    assert {"checkin", "bind", "hub_activity", "hub_quiz"} <= kinds
    for kind in kinds:
        row = figures["per_kind"][kind]
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]


def test_the_mix_is_one_table() -> None:
    names = [entry.name for entry in MIX]
    assert len(names) == len(set(names)) and all(entry.weight > 0 for entry in MIX)


@pytest.mark.slow
def test_a_short_load_on_sqlite_leaves_the_ledger_clean() -> None:
    _check(run_load(None, stations=3, seconds=2.0))


@pytest.mark.slow
@pytest.mark.postgres
def test_a_short_load_on_postgresql_leaves_the_ledger_clean() -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TAPDESK_TEST_DATABASE_URL")
    _check(run_load(PG_URL, stations=4, seconds=2.0, with_reference=False))


@pytest.mark.slow
@pytest.mark.postgres
def test_connections_cut_in_the_middle_of_a_load_leave_the_ledger_clean() -> None:
    """Every station's backends are terminated mid-run (what a server restart looks like to
    them): each operation is retried with its operation id, lands once, and verify is clean."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TAPDESK_TEST_DATABASE_URL")
    figures = run_load(PG_URL, stations=3, seconds=3.0, cut_at_s=1.0, with_reference=False)
    assert figures.get("connections_cut", 0) >= 3
    _check(figures)
