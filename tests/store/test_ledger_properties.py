"""Property-based: any sequence of awards, spends, corrections and retries keeps every invariant."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.context import Actor
from store.errors import Refused
from store.ledger import forget_cached_accounts
from store.points import award, correct, spend, statement
from store.service import Store
from tests.factories import add_attendee

UIDS = ["04000000000A01", "04000000000A02", "04000000000A03"]

step = st.one_of(
    st.tuples(
        st.just("award"), st.integers(0, 2), st.integers(1, 50), st.sampled_from(["hub-1", "hub-2"])
    ),
    st.tuples(
        st.just("spend"),
        st.integers(0, 2),
        st.integers(1, 60),
        st.sampled_from(["counter-1", "counter-2"]),
    ),
    st.tuples(st.just("correct"), st.integers(0, 30), st.just(0), st.just("hub-1")),
    st.tuples(st.just("retry"), st.integers(0, 30), st.just(0), st.just("")),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=1, max_size=25))
@pytest.mark.slow
def test_random_ledger_sequences_keep_invariants(
    steps: list[tuple[str, int, int, str]], sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.sqlite"
    shutil.copyfile(sqlite_template, path)
    forget_cached_accounts()
    store = Store.open(f"sqlite:///{path}", migrate=False)
    try:
        people = [add_attendee(store, f"Person {n}", band_uid=uid) for n, uid in enumerate(UIDS)]
        expected = [0, 0, 0]
        # (actor, call, person index, signed amount) of each applied operation, for retries.
        done: list[tuple[Actor, str, int, int, int]] = []
        transfers: list[tuple[int, int, int]] = []  # (transfer id, person, signed amount)
        corrected: set[int] = set()
        for kind, a, amount, station in steps:
            if kind == "award":
                actor = Actor(station=station)
                result = award(store, actor, UIDS[a], amount, "activity")
                expected[a] += amount
                done.append((actor, "award", a, amount, result.transfer_id))
                transfers.append((result.transfer_id, a, amount))
            elif kind == "spend":
                actor = Actor(station=station)
                try:
                    result = spend(store, actor, UIDS[a], amount, "prize")
                except Refused:
                    assert expected[a] < amount
                    continue
                assert expected[a] >= amount
                expected[a] -= amount
                done.append((actor, "spend", a, amount, result.transfer_id))
                transfers.append((result.transfer_id, a, -amount))
            elif kind == "correct" and transfers:
                tid, person, signed = transfers[a % len(transfers)]
                try:
                    correct(store, Actor(station=station), tid, "test")
                except Refused:
                    assert tid in corrected or expected[person] - signed < 0
                    continue
                assert tid not in corrected
                corrected.add(tid)
                expected[person] -= signed
            elif kind == "retry" and done:
                actor, call, person, amt, tid = done[a % len(done)]
                again = (award if call == "award" else spend)(
                    store, actor, UIDS[person], amt, "activity" if call == "award" else "prize"
                )
                assert again.transfer_id == tid  # the first result, nothing applied twice
        for person, attendee in enumerate(people):
            assert (
                sum(line.amount for line in statement(store, attendee, limit=1000))
                == expected[person]
            )
        report = store.verify()
        assert report.ok, report.violations
    finally:
        store.close()
