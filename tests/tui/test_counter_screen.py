"""Pilot tests of the prize counter: tap, choose, hand over, races with other counters, drops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from screens import RolePickerScreen
from screens.counter import CounterScreen, DropStartScreen, PrizeList, clock_text
from store import counter
from store.bands import block_band
from store.context import Actor, new_id
from store.models import Prize
from store.points import award
from store.service import Store
from tests.tui.conftest import ANNA_UID, ASEL_UID, ORGANISER, AppFactory, settle, sign_in
from tui.bigtext import BigText
from tui.messages import TapDetected

SIZE = (120, 40)
COUNTER_STAFF = "counter-saule"
ANNA = "Anna Smith"

prize_t = Prize.__table__  # type: ignore[attr-defined]


# -- helpers ----------------------------------------------------------------------------------


def give(store: Store, uid: str, points: int) -> None:
    award(store, Actor(station="hub-qa", staff="hub"), uid, points, "activity")


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def confirm_text(app: Any) -> str:
    return text_of(app, "#confirm-text")


def big_points(app: Any) -> str:
    widget = app.screen.query_one("#confirm-points", BigText)
    return str(widget.text) if widget.display else ""


def prize_lines(app: Any) -> dict[str, tuple[str, bool]]:
    """option id -> (its text, disabled)."""
    prizes = app.screen.query_one("#prizes", PrizeList)
    lines = {}
    for index in range(prizes.option_count):
        option = prizes.get_option_at_index(index)
        if option.id:
            lines[option.id] = (str(option.prompt), option.disabled)
    return lines


def highlighted(app: Any) -> str | None:
    prizes = app.screen.query_one("#prizes", PrizeList)
    if prizes.highlighted is None:
        return None
    return prizes.get_option_at_index(prizes.highlighted).id


def tap(app: Any, uid: str) -> None:
    app.post_message(
        TapDetected(uid=uid, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
    )


def screen_of(app: Any) -> CounterScreen:
    assert isinstance(app.screen, CounterScreen)
    return app.screen


async def open_counter(pilot: Pilot[None], staff_id: str = COUNTER_STAFF) -> CounterScreen:
    app = pilot.app
    await sign_in(pilot, staff_id)
    if isinstance(app.screen, RolePickerScreen):
        app.open_role("counter")  # type: ignore[attr-defined]
    await settle(pilot, lambda: isinstance(app.screen, CounterScreen))
    screen = screen_of(app)
    await settle(pilot, lambda: screen.catalogue is not None)
    return screen


async def tapped(pilot: Pilot[None], uid: str, name: str) -> None:
    tap(pilot.app, uid)
    await settle(pilot, lambda: name in text_of(pilot.app, "#card"))


# -- tap and hand over ------------------------------------------------------------------------


async def test_tap_shows_balance_and_tiers(make_app: AppFactory, people_store: Store) -> None:
    give(people_store, ANNA_UID, 300)
    with people_store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "thermo-mug").values(supplied=0))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_counter(pilot)
        assert "Tap the attendee's band" in text_of(app, "#card")
        await tapped(pilot, ANNA_UID, ANNA)
        assert "300 points" in text_of(app, "#card")
        lines = prize_lines(app)
        assert "✓" in lines["p:t-shirt"][0] and not lines["p:t-shirt"][1]
        assert "50 missing" in lines["p:charger"][0] and not lines["p:charger"][1]
        assert "sold out" in lines["p:thermo-mug"][0] and lines["p:thermo-mug"][1]
        # Numbers stay put: the sold-out mug keeps its 5, and typing it says it cannot be chosen.
        assert lines["p:thermo-mug"][0].startswith(" 5  ")
        assert lines["p:charger"][0].startswith(" 6  ")
        assert "4×" in lines["p:headphones"][0]  # pay in four marked
        assert highlighted(app) is None  # ctrl+o never hands over what nobody chose
        await pilot.press("ctrl+o")
        assert "Choose a prize first" in confirm_text(app)
        await pilot.press("down")
        assert highlighted(app) == "p:stickers"
        assert app.focused is app.screen.query_one("#scan", Input)


async def test_hand_over_with_the_keyboard(make_app: AppFactory, people_store: Store) -> None:
    give(people_store, ANNA_UID, 300)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        # A number typed in the scan field and Enter chooses that prize (4: the T-shirt).
        await pilot.press("4", "enter")
        assert highlighted(app) == "p:t-shirt"
        screen = screen_of(app)
        screen._busy = True  # an operation on its way: a second press is not a second sale
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert "300 points" in text_of(app, "#card")
        screen._busy = False
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "Hand over" in confirm_text(app))
        assert big_points(app) == "-200"
        assert "balance 100" in confirm_text(app)
        await settle(pilot, lambda: "100 points" in text_of(app, "#card"))
        lines = prize_lines(app)
        assert "one per person: taken at" in lines["p:t-shirt"][0] and lines["p:t-shirt"][1]
        table = app.screen.query_one("#recent", DataTable)
        assert table.row_count == 1
        # The arrows skip what cannot be chosen.
        await pilot.press("up")
        assert highlighted(app) == "p:socks"
        assert app.focused is app.screen.query_one("#scan", Input)
    assert people_store.verify().ok


async def test_another_counter_sells_the_last_unit(
    make_app: AppFactory, people_store: Store
) -> None:
    give(people_store, ANNA_UID, 500)
    give(people_store, ASEL_UID, 500)
    with people_store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "charger").values(supplied=1))
    app = make_app(live_seconds=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        await pilot.press("6", "enter")
        assert highlighted(app) == "p:charger"
        # Counter 2 sells the last charger; this screen follows without a key press.
        other = counter.catalogue_for_band(people_store, ASEL_UID).attendee
        assert other is not None
        counter.redeem(people_store, Actor(station="counter-2"), other.id, "charger")
        await settle(pilot, lambda: "sold out" in prize_lines(app)["p:charger"][0])
        assert prize_lines(app)["p:charger"][1]
        # Had the press come first, the database says no and nothing is charged.
        with people_store.db.write() as conn:
            conn.execute(update(prize_t).where(prize_t.c.id == "charger").values(supplied=2))
        screen.reload()  # a raw UPDATE does not move the change counter
        await settle(pilot, lambda: not prize_lines(app)["p:charger"][1])
        with people_store.db.write() as conn:
            conn.execute(update(prize_t).where(prize_t.c.id == "charger").values(taken=2))
        screen.query_one("#prizes", PrizeList).highlighted = screen.query_one(
            "#prizes", PrizeList
        ).get_option_index("p:charger")
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "just sold out" in confirm_text(app))
        assert "nothing was charged" in confirm_text(app)
        assert "500 points" in text_of(app, "#card")


async def test_return_needs_a_second_press(make_app: AppFactory, people_store: Store) -> None:
    give(people_store, ANNA_UID, 100)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        await pilot.press("down", "ctrl+o")  # stickers
        await settle(pilot, lambda: "80 points" in text_of(app, "#card"))
        await pilot.press("ctrl+z")
        assert "Press ctrl+z again" in confirm_text(app)
        assert "80 points" in text_of(app, "#card")
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: "returned" in confirm_text(app))
        assert big_points(app) == "+20"
        await settle(pilot, lambda: "100 points" in text_of(app, "#card"))
        assert app.screen.query_one("#recent", DataTable).row_count == 0
    assert people_store.verify().ok


async def test_blocked_band_and_no_band(make_app: AppFactory, people_store: Store) -> None:
    give(people_store, ANNA_UID, 100)
    block_band(people_store, Actor(station="bands"), ANNA_UID, "reported lost at the bar")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_counter(pilot)
        await pilot.press("ctrl+o")
        assert "Tap the attendee's band first" in confirm_text(app)
        tap(app, ANNA_UID)
        await settle(pilot, lambda: "reported lost at the bar" in text_of(app, "#card"))
        assert "error" in app.screen.query_one("#card").classes
        await pilot.press("ctrl+o")
        assert "Tap the attendee's band first" in confirm_text(app)


# -- drops --------------------------------------------------------------------------------------


async def test_organiser_starts_a_drop_and_counter_holds_then_confirms(
    make_app: AppFactory, people_store: Store
) -> None:
    give(people_store, ANNA_UID, 1000)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_counter(pilot, ORGANISER)
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, DropStartScreen))
        modal = app.screen
        picks = modal.query_one("#drop-prize")
        picks.highlighted = picks.get_option_index("headphones")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.press("ctrl+u", "3", "tab", "tab", *"700", "enter")
        await settle(pilot, lambda: isinstance(app.screen, CounterScreen))
        await settle(pilot, lambda: "LIVE DROP" in text_of(app, "#drops"))
        assert "3 of 3 left" in text_of(app, "#drops")
        assert "700 points" in text_of(app, "#drops")

        await tapped(pilot, ANNA_UID, ANNA)
        drop_key = next(k for k in prize_lines(app) if k.startswith("d:"))
        assert "(was 900)" in prize_lines(app)[drop_key][0]
        await pilot.press("1", "2", "enter")  # the drop comes after the 11 prizes
        assert highlighted(app) == drop_key
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "held for Anna Smith" in confirm_text(app))
        assert screen.hold is not None
        await settle(pilot, lambda: "1 on hold" in text_of(app, "#drops"))
        assert "1000 points" in text_of(app, "#card")  # a hold moves no points
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "Hand over" in confirm_text(app))
        assert big_points(app) == "-700"
        assert counter.drops(people_store)[0].taken == 1
        await settle(pilot, lambda: "2 of 3 left" in text_of(app, "#drops"))
        assert screen.hold is None

        # The organiser closes it (twice): the only drop running, whatever is chosen.
        await pilot.press("ctrl+y")
        assert "Press ctrl+y again" in confirm_text(app)
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: not screen.query_one("#drops").display)
    assert people_store.verify().ok


async def test_escape_releases_a_hold_and_counter_staff_cannot_start_drops(
    make_app: AppFactory, people_store: Store
) -> None:
    give(people_store, ANNA_UID, 1000)
    drop = counter.start_drop(people_store, Actor(station="cli"), "blanket", 1, 10)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_counter(pilot)
        assert screen.check_action("start_drop", ()) is False
        await pilot.press("ctrl+n")
        assert not isinstance(app.screen, DropStartScreen)
        await tapped(pilot, ANNA_UID, ANNA)
        await pilot.press("1", "2", "enter", "ctrl+o")
        await settle(pilot, lambda: screen.hold is not None)
        assert counter.drops(people_store)[0].held == 1
        await pilot.press("escape")
        assert "Hold released" in confirm_text(app)
        await settle(pilot)
        assert counter.drops(people_store)[0].held == 0
        assert counter.drops(people_store)[0].id == drop.id
        # Held again; Anna taps again (the hold stays), then the next person (it goes).
        await pilot.press("1", "2", "enter", "ctrl+o")
        await settle(pilot, lambda: screen.hold is not None)
        await tapped(pilot, ANNA_UID, ANNA)
        await settle(pilot)
        assert screen.hold is not None and counter.drops(people_store)[0].held == 1
        await tapped(pilot, ASEL_UID, "Әсел")
        await settle(pilot, lambda: counter.drops(people_store)[0].held == 0)
        assert screen.hold is None


def test_clock_text() -> None:
    assert clock_text(600) == "10:00"
    assert clock_text(59.2) == "1:00"
    assert clock_text(0.0) == "0:00"
    assert clock_text(-5) == "0:00"


# -- the look --------------------------------------------------------------------------------------


@pytest.fixture
def frozen_countdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The countdown shows 4:32 whenever the snapshot is taken."""
    monkeypatch.setattr(CounterScreen, "remaining", lambda self, seconds: 272.0)


def test_snapshot_with_a_drop_running(
    snap_compare: Any, make_app: AppFactory, people_store: Store, frozen_countdown: None
) -> None:
    give(people_store, ANNA_UID, 450)
    counter.start_drop(people_store, Actor(station="cli"), "headphones", 20, 10, price=700)
    with people_store.db.write() as conn:
        conn.execute(update(prize_t).where(prize_t.c.id == "thermo-mug").values(supplied=0))

    async def ready(pilot: Pilot[None]) -> None:
        await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        await settle(pilot, lambda: "LIVE DROP" in text_of(pilot.app, "#drops"))
        await pilot.press("down", "down")  # the sticker pack chosen
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)


async def test_an_idle_counter_forgets_the_attendee(
    make_app: AppFactory, people_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import screens.counter as counter_screen

    give(people_store, ANNA_UID, 100)
    monkeypatch.setattr(counter_screen, "IDLE_SECONDS", 0.5)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        await settle(pilot, lambda: screen.attendee_id is None)
        await settle(pilot, lambda: "Tap the attendee's band" in text_of(app, "#card"))
        assert "tap the next band" in confirm_text(app)
        await pilot.press("down", "ctrl+o")
        assert "Tap the attendee's band first" in confirm_text(app)
    assert counter.catalogue(people_store).prize("stickers").available == 600  # type: ignore[union-attr]


# -- pay in four ------------------------------------------------------------------------------


async def test_pay_in_four_from_the_counter(make_app: AppFactory, people_store: Store) -> None:
    from screens.credit import PayInFourScreen
    from store import credit
    from tests.factories import attendee_id_by_name
    from tests.tui.test_credit_screen import credit_settings

    credit_settings(people_store, threshold=0)
    give(people_store, ANNA_UID, 300)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        # The T-shirt is not marked 4×: the key says which prizes are.
        prizes = app.screen.query_one("#prizes", PrizeList)
        index = next(
            i for i in range(prizes.option_count) if prizes.get_option_at_index(i).id == "p:t-shirt"
        )
        prizes.highlighted = index
        await pilot.press("ctrl+b")
        assert "marked 4×" in confirm_text(app)
        assert not isinstance(app.screen, PayInFourScreen)
        # Headphones (900, 4×): four instalments of 225, the first now.
        index = next(
            i
            for i in range(prizes.option_count)
            if prizes.get_option_at_index(i).id == "p:headphones"
        )
        prizes.highlighted = index
        await pilot.press("ctrl+b")
        await settle(pilot, lambda: isinstance(app.screen, PayInFourScreen))
        pay = app.screen
        assert isinstance(pay, PayInFourScreen)
        await settle(pilot, lambda: pay.assessed is not None)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: app.screen is screen and "Pay in four" in confirm_text(app))
        assert "225 paid now, 675 owed" in confirm_text(app)
        assert big_points(app) == "-225"
        anna = attendee_id_by_name(people_store, ANNA)
        assert credit.credit_status(people_store, anna).owed == 675
        # Brought back: the instalment paid comes back, the rest of the plan is cancelled.
        await settle(pilot, lambda: bool(screen.catalogue and screen.catalogue.recent))
        await pilot.press("ctrl+z")
        assert "paid in four" in confirm_text(app)
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: "returned" in confirm_text(app))
        assert "225 points back, balance 300" in confirm_text(app)
    assert credit.credit_status(people_store, anna).owed == 0
    assert people_store.verify().ok


async def test_a_paused_attendee_is_shown_as_paused_on_tap(
    make_app: AppFactory, people_store: Store
) -> None:
    from tests.tui.test_credit_screen import paused_anna

    paused_anna(people_store)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_counter(pilot)
        await tapped(pilot, ANNA_UID, ANNA)
        assert "Paused: overdue instalment of 225 points" in text_of(app, "#card")
        assert "warn" in app.screen.query_one("#card", Static).classes
