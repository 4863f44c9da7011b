"""Pilot tests of the hub station: choose an award, tap, the big confirmation, limits, undo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static

from hardware.sim import SimulatedReader
from screens import RolePickerScreen
from screens.hub import AwardPicker, HubScreen
from screens.lookup import LookupScreen
from store.context import new_id
from store.models import Account, Attendee
from store.service import Store
from tests.factories import add_attendee
from tests.tui.conftest import ANNA_UID, ASEL_UID, ORGANISER, AppFactory, settle, sign_in
from tui.app import TapdeskApp
from tui.bigtext import BigText
from tui.messages import TapDetected

SIZE = (120, 40)
ANNA = "Anna Smith"
ASEL = "Әсел Нұрланова"
BUG_HUNT = "Bug hunt: find the five planted bugs"
HUBMAN_BAND = "04E7B0C0DE0001"


# -- helpers ----------------------------------------------------------------------------------


def balance_of(store: Store, name: str) -> int:
    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    account_t = Account.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(
            conn.execute(
                select(account_t.c.balance)
                .join(attendee_t, attendee_t.c.id == account_t.c.attendee_id)
                .where(attendee_t.c.name == name)
            ).scalar_one()
        )


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def choice_line(app: Any) -> str:
    return text_of(app, "#hub-choice")


def confirm_text(app: Any) -> str:
    return text_of(app, "#confirm-text")


def confirm_classes(app: Any) -> set[str]:
    return set(app.screen.query_one("#confirm").classes)


def big_points(app: Any) -> str:
    widget = app.screen.query_one("#confirm-points", BigText)
    return str(widget.text) if widget.display else ""


def award_rows(app: Any) -> list[list[str]]:
    table = app.screen.query_one("#awards", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def tap(app: Any, uid: str) -> None:
    app.post_message(
        TapDetected(uid=uid, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
    )


async def flash_gone(pilot: Pilot[None]) -> None:
    """Wait out the short flash a tap gives the whole screen (a snapshot must not catch it)."""
    screen = pilot.app.screen
    await settle(pilot, lambda: not {"-flash-ok", "-flash-fail"} & set(screen.classes))


async def open_hub(pilot: Pilot[None], staff_id: str = ORGANISER) -> None:
    """Sign in; an organiser then picks "Hub" in the role picker (a hubman goes straight there)."""
    app = pilot.app
    await sign_in(pilot, staff_id)
    if isinstance(app.screen, RolePickerScreen):
        roles = app.screen.query_one("#roles", OptionList)
        roles.highlighted = roles.get_option_index("hub")
        await pilot.press("enter")
    await settle(pilot, lambda: isinstance(app.screen, HubScreen))
    assert isinstance(app.screen, HubScreen)
    screen = app.screen
    await settle(pilot, lambda: screen.catalogue is not None)


async def choose(pilot: Pilot[None], typed: str, cool_points: str = "") -> None:
    """ctrl+o, type to narrow, Enter (and for "cool", the points and Enter)."""
    app = pilot.app
    await pilot.press("ctrl+o")
    await settle(pilot, lambda: isinstance(app.screen, AwardPicker))
    await pilot.press(*typed)
    await pilot.press("enter")
    if cool_points:
        await settle(pilot, lambda: app.screen.query_one("#pick-cool", Input).has_focus)
        await pilot.press(*cool_points, "enter")
    await settle(pilot, lambda: isinstance(app.screen, HubScreen))


async def tapped(pilot: Pilot[None], uid: str, until: str) -> None:
    tap(pilot.app, uid)
    await settle(pilot, lambda: until in confirm_text(pilot.app))


# -- awards -----------------------------------------------------------------------------------


async def test_activity_award_and_its_once_limit(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        assert "Nothing chosen" in choice_line(app)

        await pilot.press("ctrl+o")
        await settle(pilot, lambda: isinstance(app.screen, AwardPicker))
        await pilot.press(*"qa bug")
        picks = app.screen.query_one("#pick-list", OptionList)
        highlighted = picks.get_option_at_index(picks.highlighted or 0)
        assert highlighted.id == "a:qa-bug-hunt"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, HubScreen))
        assert "Each tap awards" in choice_line(app)
        assert BUG_HUNT in choice_line(app)
        assert app.focused is app.screen.query_one("#scan", Input)

        await tapped(pilot, ANNA_UID, ANNA)
        assert big_points(app) == "+20"
        assert ANNA in confirm_text(app)
        assert "balance 20" in confirm_text(app)
        assert "ok" in confirm_classes(app)
        rows = award_rows(app)
        assert len(rows) == 1
        assert [str(cell) for cell in rows[0][1:]] == [ANNA, BUG_HUNT, "+20", "20"]
        assert balance_of(people_store, ANNA) == 20

        await tapped(pilot, ANNA_UID, "already did")
        assert f"{ANNA} already did {BUG_HUNT} at" in confirm_text(app)
        assert "error" in confirm_classes(app)
        assert "ok" not in confirm_classes(app)
        assert big_points(app) == ""
        assert len(award_rows(app)) == 1
        assert balance_of(people_store, ANNA) == 20


async def test_choice_is_remembered_per_station(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "qa bug")
        assert BUG_HUNT in choice_line(app)
        await settle(pilot)  # the choice is written by a worker
        await pilot.press("ctrl+q")

    again = make_app()  # the same store, the same station
    async with again.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await settle(pilot, lambda: BUG_HUNT in choice_line(again))
        assert "Each tap awards" in choice_line(again)
        assert BUG_HUNT in choice_line(again)
        await tapped(pilot, ASEL_UID, ASEL)  # and a tap awards it without picking
        assert big_points(again) == "+20"

    other = TapdeskApp(
        store=people_store,
        reader=SimulatedReader(),
        station="hub-9",
        event_name="Make IT Real 2026",
        heartbeat=False,
    )
    async with other.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        assert "Nothing chosen" in choice_line(other)


async def test_quiz_for_a_room_and_cool_points(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "t01-q1")
        assert "Which component hit its limit first" in choice_line(app)

        await tapped(pilot, ANNA_UID, ANNA)
        assert big_points(app) == "+10"
        await tapped(pilot, ASEL_UID, ASEL)
        assert big_points(app) == "+10"
        assert "ok" in confirm_classes(app)
        assert [row[1] for row in award_rows(app)] == [ASEL, ANNA]
        assert balance_of(people_store, ANNA) == 10
        assert balance_of(people_store, ASEL) == 10

        await choose(pilot, "being cool", cool_points="30")
        assert "For being cool  +30" in choice_line(app)
        await tapped(pilot, ANNA_UID, "balance 40")
        assert big_points(app) == "+30"
        await settle(pilot, lambda: "cool budget: 170" in choice_line(app))
        assert "cool budget: 170" in choice_line(app)
        assert balance_of(people_store, ANNA) == 40


async def test_undo_of_the_selected_award(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "qa bug")
        await tapped(pilot, ANNA_UID, "balance 20")
        assert balance_of(people_store, ANNA) == 20

        await pilot.press("ctrl+z")
        await settle(pilot, lambda: "Undone" in confirm_text(app))
        assert f"Undone: 20 points taken back from {ANNA}." in confirm_text(app)
        assert "warn" in confirm_classes(app)
        assert award_rows(app) == []
        assert balance_of(people_store, ANNA) == 0

        await tapped(pilot, ANNA_UID, "balance 20")  # the once-limit was released
        assert balance_of(people_store, ANNA) == 20


async def test_undo_takes_back_the_row_the_cursor_is_on(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "qa bug")
        await tapped(pilot, ANNA_UID, ANNA)
        await tapped(pilot, ASEL_UID, ASEL)
        assert [row[1] for row in award_rows(app)] == [ASEL, ANNA]

        table = app.screen.query_one("#awards", DataTable)
        table.focus()
        await pilot.press("down")  # select Anna's (the older) award
        assert table.cursor_row == 1
        await pilot.press("ctrl+z")
        await settle(pilot, lambda: "Undone" in confirm_text(app))
        assert f"from {ANNA}." in confirm_text(app)
        assert [row[1] for row in award_rows(app)] == [ASEL]
        assert balance_of(people_store, ANNA) == 0
        assert balance_of(people_store, ASEL) == 20


async def test_a_hubman_cannot_award_himself(make_app: AppFactory, people_store: Store) -> None:
    add_attendee(people_store, "Ербол Өтебаев", band_uid=HUBMAN_BAND, field="qa", code="BSW8X6G7ES")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot, "hub-qa")
        await choose(pilot, "qa bug")
        await tapped(pilot, HUBMAN_BAND, "yourself")
        assert "You cannot award points to yourself" in confirm_text(app)
        assert "error" in confirm_classes(app)
        assert balance_of(people_store, "Ербол Өтебаев") == 0

        await tapped(pilot, ANNA_UID, ANNA)  # anyone else is fine
        assert big_points(app) == "+20"


async def test_lookup_shows_the_transfers(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "qa bug")
        await tapped(pilot, ANNA_UID, "balance 20")

        await pilot.press("ctrl+f")
        await settle(pilot, lambda: isinstance(app.screen, LookupScreen))
        await pilot.press(*"anna")
        hits = app.screen.query_one("#lookup-hits", OptionList)
        await settle(pilot, lambda: hits.option_count > 0)
        await pilot.press("enter")
        table = app.screen.query_one("#lookup-transfers", DataTable)
        await settle(pilot, lambda: table.row_count > 0)
        assert text_of(app, "#lookup-who") == ANNA
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert len(rows) == 1
        assert rows[0][1:4] == ["+20", "Activity: Bug hunt: find the five planted bugs", "desk-2"]
        assert rows[0][4] == "Динара Мусина"

        await pilot.press("escape")
        assert isinstance(app.screen, HubScreen)


# -- the hub keeper's numbers (known bugs) ----------------------------------------------------


async def test_cool_budget_stays_in_view_after_choosing(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        assert "cool budget: 200" in choice_line(app)
        await choose(pilot, "being cool", cool_points="30")
        await settle(pilot)
        assert "For being cool  +30" in choice_line(app)
        assert "cool budget: 200" in choice_line(app)


async def test_refusal_shows_in_the_hub_numbers(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_hub(pilot)
        await choose(pilot, "qa bug")
        await tapped(pilot, ANNA_UID, "balance 20")
        await tapped(pilot, ANNA_UID, "already did")
        stats = app.screen.query_one("#stats", Static)
        await settle(pilot, lambda: "Refusals" in str(stats.render()))
        assert "limit reached: 1" in str(stats.render())


# -- the look ---------------------------------------------------------------------------------


class TestHubLook:
    """The hub after one award.

    Everything on it is fixed by the test data except the award table's Time column (the
    database clock, shown in the laptop's time zone). After the award the test writes a fixed
    time into that one cell; the name, what, points and balance cells are the real ones. The
    confirmation and the hub statistics show no time. The green flash a successful tap gives
    the screen lasts 0.7 s: the snapshot waits until it is over.
    """

    def test_after_one_award(
        self, snap_compare: Any, make_app: AppFactory, people_store: Store
    ) -> None:
        async def awarded(pilot: Pilot[None]) -> None:
            await open_hub(pilot)
            await choose(pilot, "qa bug")
            await tapped(pilot, ANNA_UID, "balance 20")
            stats = pilot.app.screen.query_one("#stats", Static)
            await settle(pilot, lambda: ANNA in str(stats.render()))
            table = pilot.app.screen.query_one("#awards", DataTable)
            table.update_cell_at(Coordinate(0, 0), "10:15:00")
            await flash_gone(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=awarded)
