"""Pilot tests of the pay-in-four screen: the schedule, the rules, confirm and cancel."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from screens.credit import PayInFourScreen
from store import credit
from store.context import Actor
from store.points import award
from store.service import Store
from tests.tui.conftest import ANNA_UID, ASEL_UID, AppFactory, settle, sign_in

SIZE = (120, 40)


def detail(app: Any) -> str:
    return str(app.screen.query_one("#pay-detail", Static).render())


def status(app: Any) -> str:
    return str(app.screen.query_one("#pay-status", Static).render())


def attendee(store: Store, name: str) -> int:
    from tests.factories import attendee_id_by_name

    return attendee_id_by_name(store, name)


def give(store: Store, uid: str, points: int) -> None:
    award(store, Actor(station="hub-test"), uid, points, "bonus")


async def open_pay(
    pilot: Pilot[None], attendee_id: int, prize: str, results: list[Any]
) -> PayInFourScreen:
    app = pilot.app
    await sign_in(pilot)
    screen = PayInFourScreen(attendee_id, prize)
    await app.push_screen(screen, callback=results.append)
    await settle(pilot, lambda: screen.assessed is not None or "Not possible" in status(app))
    return screen


async def test_eligible_attendee_takes_the_prize(make_app: AppFactory, people_store: Store) -> None:
    credit_settings(people_store, threshold=0)
    anna = attendee(people_store, "Anna Smith")
    give(people_store, ANNA_UID, 300)
    app = make_app(role="counter")
    results: list[Any] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pay(pilot, anna, "headphones", results)
        assert screen.assessed is not None and screen.assessed.eligible
        shown = detail(app)
        assert "Headphones" in str(app.screen.query_one("#pay-title", Static).render())
        assert "now, at the counter" in shown and shown.count("due ") >= 3
        assert "✓ No overdue instalment." in shown
        assert "hubs visited: 0 × 10 = 0" in shown
        assert "Eligible" in status(app)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: bool(results))
    assert len(results) == 1 and isinstance(results[0], credit.PlanResult)
    assert [i.amount for i in results[0].instalments] == [225] * 4
    assert credit.credit_status(people_store, anna).owed == 675


async def test_refused_rule_is_shown_and_ctrl_o_does_nothing(
    make_app: AppFactory, people_store: Store
) -> None:
    asel = attendee(people_store, "Әсел Нұрланова")
    give(people_store, ASEL_UID, 100)
    app = make_app(role="counter")
    results: list[Any] = []
    async with app.run_test(size=SIZE) as pilot:
        await open_pay(pilot, asel, "headphones", results)
        shown = detail(app)
        assert "✗ Әсел Нұрланова has 100 points; the first instalment is 225." in shown
        assert "Not possible: Әсел Нұрланова has 100 points" in status(app)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert not results and isinstance(app.screen, PayInFourScreen)
        await pilot.press("escape")
        await settle(pilot, lambda: bool(results))
    assert results == [None]
    assert credit.credit_status(people_store, asel).plans == ()


async def test_prize_not_marked_says_so(make_app: AppFactory, people_store: Store) -> None:
    anna = attendee(people_store, "Anna Smith")
    app = make_app(role="counter")
    results: list[Any] = []
    async with app.run_test(size=SIZE) as pilot:
        await open_pay(pilot, anna, "socks", results)
        assert "cannot be paid in four" in status(app)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert not results


def credit_settings(store: Store, **values: Any) -> None:
    import json

    from sqlalchemy import select, update

    from store.models import Event

    event_t = Event.__table__  # type: ignore[attr-defined]
    with store.db.write() as conn:
        settings = json.loads(conn.execute(select(event_t.c.settings)).scalar_one())
        settings["credit"].update(values)
        conn.execute(update(event_t).values(settings=json.dumps(settings)))


T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


class TestPayInFourSnapshot:
    def test_score_below_threshold(
        self,
        snap_compare: Any,
        make_app: AppFactory,
        people_store: Store,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        real = credit.eligibility

        def fixed_times(store: Store, attendee_id: int, prize_id: str) -> credit.Eligibility:
            # Due times follow the clock: pin them so that the snapshot is stable.
            found = real(store, attendee_id, prize_id)
            return dataclasses.replace(
                found,
                schedule=tuple(
                    dataclasses.replace(p, due_at=T0 + (p.number - 1) * timedelta(minutes=90))
                    for p in found.schedule
                ),
            )

        monkeypatch.setattr(credit, "eligibility", fixed_times)
        anna = attendee(people_store, "Anna Smith")
        give(people_store, ANNA_UID, 300)

        async def opened(pilot: Pilot[None]) -> None:
            await open_pay(pilot, anna, "headphones", [])
            await settle(pilot)

        assert snap_compare(make_app(role="counter"), terminal_size=SIZE, run_before=opened)


def paused_anna(store: Store) -> int:
    """Anna took headphones in four with exactly the first instalment; the second is overdue."""
    from sqlalchemy import update

    from store.ledger import account_t
    from store.models import Instalment

    credit_settings(store, threshold=0)
    anna = attendee(store, "Anna Smith")
    give(store, ANNA_UID, 225)
    credit.redeem_in_four(store, Actor(station="counter-1"), anna, "headphones")
    inst_t = Instalment.__table__  # type: ignore[attr-defined]
    past = datetime(2020, 1, 1, tzinfo=UTC)
    with store.db.write() as conn:
        conn.execute(update(inst_t).where(inst_t.c.number == 2).values(due_at=past))
        conn.execute(
            update(account_t).where(account_t.c.attendee_id == anna).values(next_due_at=past)
        )
    return anna


async def test_station_tap_shows_a_paused_attendee(
    make_app: AppFactory, people_store: Store
) -> None:
    paused_anna(people_store)
    app = make_app(role="coats")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.simulate_tap(ANNA_UID)
        card = app.screen.query_one("#card", Static)
        await settle(pilot, lambda: "Anna" in str(card.render()))
        assert "Paused: overdue instalment of 225 points" in str(card.render())
        assert "warn" in card.classes
