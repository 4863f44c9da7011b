"""Pilot tests of the registration desk: scan, search, check in, colour, band, undo, walk-ins."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from hardware.uid import RU_TO_LATIN
from screens.desk import DeskScreen
from screens.walk_in import WalkInScreen
from store import desk
from store.context import Actor, new_id
from store.imports import import_points
from store.models import Account, Attendee, Audit, Band
from store.service import Store
from tests.tui.conftest import ANNA_UID, DESK, AppFactory, settle, sign_in
from tui.bigtext import BigText
from tui.messages import TapDetected

SIZE = (120, 40)
IVAN = "Иван Петров"
IVAN_BAND = "04C0FFEE123456"
#: The Latin keys back to the characters a Russian layout types on them (inverse of fold_layout).
LATIN_TO_RU = {chr(latin): chr(ru) for ru, latin in RU_TO_LATIN.items()}


# -- helpers ----------------------------------------------------------------------------------


def attendee_id(store: Store, name: str) -> int:
    attendee_t = Attendee.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(
            conn.execute(select(attendee_t.c.id).where(attendee_t.c.name == name)).scalar_one()
        )


def balance_of(store: Store, name: str) -> int:
    account_t = Account.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return int(
            conn.execute(
                select(account_t.c.balance).where(
                    account_t.c.attendee_id == attendee_id(store, name)
                )
            ).scalar_one()
        )


def band_state(store: Store, uid: str) -> str | None:
    band_t = Band.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return conn.execute(select(band_t.c.state).where(band_t.c.uid == uid)).scalar()


def audit_actions(store: Store, subject: str) -> list[str]:
    audit_t = Audit.__table__  # type: ignore[attr-defined]
    with store.db.read() as conn:
        return list(
            conn.execute(
                select(audit_t.c.action).where(audit_t.c.subject == subject).order_by(audit_t.c.id)
            ).scalars()
        )


def give_pending_points(store: Store, tmp_path: Path, code: str, *points: int) -> None:
    """Points earned on the site before the event, imported as the organisers do."""
    csv = tmp_path / "points.csv"
    lines = ["code,reason,points,external_id"]
    lines += [f"{code},site quiz {n},{p},site-{code}-{n}" for n, p in enumerate(points)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_points(store, csv, Actor(station="setup"))


def russian_layout(text: str) -> str:
    """What a wedge scanner types for ``text`` when the laptop is switched to ЙЦУКЕН."""
    return "".join(LATIN_TO_RU.get(char, char) for char in text)


def card_text(app: Any) -> str:
    return str(app.screen.query_one("#card", Static).render())


def card_classes(app: Any) -> set[str]:
    return set(app.screen.query_one("#card", Static).classes)


def colour_name(app: Any) -> str:
    return str(app.screen.query_one("#colour-name", BigText).text)


def colour_shown(app: Any) -> bool:
    return bool(app.screen.query_one("#colour").display)


def tap(app: Any, uid: str) -> None:
    app.post_message(
        TapDetected(uid=uid, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
    )


async def flash_gone(pilot: Pilot[None]) -> None:
    """Wait out the short flash a tap gives the whole screen (a snapshot must not catch it)."""
    screen = pilot.app.screen
    await settle(pilot, lambda: not {"-flash-ok", "-flash-fail"} & set(screen.classes))


async def open_desk(pilot: Pilot[None]) -> None:
    await sign_in(pilot, DESK)
    assert isinstance(pilot.app.screen, DeskScreen)


async def scan(pilot: Pilot[None], text: str, until: str) -> None:
    """The scanner types ``text`` into the scan field and presses Enter."""
    pilot.app.screen.query_one("#scan", Input).value = text
    await pilot.press("enter")
    await settle(pilot, lambda: until in card_text(pilot.app))


async def open_card(pilot: Pilot[None], store: Store, name: str) -> None:
    code = desk.attendee_card(store, attendee_id(store, name)).code
    await scan(pilot, "TD:" + code, name)
    assert name in card_text(pilot.app)


async def check_in_shown(pilot: Pilot[None]) -> None:
    await pilot.press("ctrl+o")
    await settle(pilot, lambda: colour_shown(pilot.app))


# -- finding the person -----------------------------------------------------------------------


async def test_scanned_invitation_opens_the_card(make_app: AppFactory, people_store: Store) -> None:
    code = desk.attendee_card(people_store, attendee_id(people_store, IVAN)).code
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await scan(pilot, "TD:" + code, IVAN)
        assert IVAN in card_text(app)
        assert "Not checked in yet" in card_text(app)
        assert app.screen.query_one("#scan", Input).value == ""

        await pilot.press("escape")
        await settle(pilot, lambda: IVAN not in card_text(app))
        typed = russian_layout("TD:" + code)
        assert typed.startswith("ЕВЖ")
        await scan(pilot, typed, IVAN)
        assert IVAN in card_text(app)
        assert "Not checked in yet" in card_text(app)


async def test_typing_a_name_narrows_the_list_with_each_key(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        results = app.screen.query_one("#results", OptionList)

        def listed() -> list[str]:
            return [str(results.get_option_at_index(i).prompt) for i in range(results.option_count)]

        await pilot.press(*"bdfy")  # "иван" typed with the Latin layout on
        await settle(pilot, lambda: any(IVAN in line for line in listed()))
        assert app.screen.query_one("#scan", Input).value == "bdfy"
        assert any(IVAN in line for line in listed())
        assert not any("Anna Smith" in line for line in listed())
        await pilot.press("enter")  # Enter opens the highlighted person
        await settle(pilot, lambda: IVAN in card_text(app))
        assert "Not checked in yet" in card_text(app)


async def test_down_moves_into_the_list_and_enter_opens_the_person(
    make_app: AppFactory, people_store: Store
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        results = app.screen.query_one("#results", OptionList)
        await pilot.press(*"anna")
        await settle(pilot, lambda: results.option_count > 0)
        await pilot.press("down")
        assert app.focused is results
        await pilot.press("enter")
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert "Not checked in yet" in card_text(app)
        assert app.focused is app.screen.query_one("#scan", Input)  # back for the next scan


# -- the whole flow ---------------------------------------------------------------------------


async def test_check_in_colour_and_band_post_pre_event_points_once(
    make_app: AppFactory, people_store: Store, tmp_path: Path
) -> None:
    ivan = attendee_id(people_store, IVAN)
    give_pending_points(people_store, tmp_path, desk.attendee_card(people_store, ivan).code, 15, 10)
    assert desk.attendee_card(people_store, ivan).pending_points == 25
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, IVAN)
        assert "Pre-event points waiting: 25" in card_text(app)

        await check_in_shown(pilot)
        assert colour_shown(app)
        assert colour_name(app) == "Blue"  # development → blue
        hint = str(app.screen.query_one("#colour-hint", Static).render())
        assert IVAN in hint and "Blue" in hint
        assert desk.attendee_card(people_store, ivan).checked_in_at is not None

        tap(app, IVAN_BAND)
        await settle(pilot, lambda: "Done" in card_text(app))
        text = card_text(app)
        assert "Done" in text and IVAN in text
        assert f"Band {IVAN_BAND} · balance 25" in text
        assert "Pre-event points added: 25" in text
        assert "ok" in card_classes(app)
        assert not colour_shown(app)
        scan_field = app.screen.query_one("#scan", Input)
        assert app.focused is scan_field
        assert scan_field.value == ""
        assert balance_of(people_store, IVAN) == 25
        card = desk.attendee_card(people_store, ivan)
        assert card.band_uid == IVAN_BAND and card.pending_points == 0

        tap(app, IVAN_BAND)  # the same band again, a new correlation id
        await settle(pilot, lambda: "belongs to" in card_text(app))
        assert f"Band {IVAN_BAND} belongs to {IVAN}." in card_text(app)
        assert balance_of(people_store, IVAN) == 25


async def test_other_colour_is_recorded_as_an_override(
    make_app: AppFactory, people_store: Store
) -> None:
    ivan = attendee_id(people_store, IVAN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, IVAN)
        await check_in_shown(pilot)
        assert colour_name(app) == "Blue"
        assert desk.attendee_card(people_store, ivan).colour_id == "blue"

        await pilot.press("ctrl+b")
        await settle(pilot, lambda: colour_name(app) != "Blue")
        assert colour_name(app) == "Orange"  # the next colour of the event file
        assert colour_shown(app)
        assert desk.attendee_card(people_store, ivan).colour_id == "orange"
        assert audit_actions(people_store, str(ivan)) == ["check_in", "colour_override"]

        tap(app, IVAN_BAND)  # the band still binds after the change
        await settle(pilot, lambda: "Done" in card_text(app))
        assert desk.attendee_card(people_store, ivan).band_uid == IVAN_BAND


async def test_undo_takes_back_the_check_in_the_band_and_the_points(
    make_app: AppFactory, people_store: Store, tmp_path: Path
) -> None:
    ivan = attendee_id(people_store, IVAN)
    give_pending_points(people_store, tmp_path, desk.attendee_card(people_store, ivan).code, 25)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, IVAN)
        await check_in_shown(pilot)
        tap(app, IVAN_BAND)
        await settle(pilot, lambda: "Done" in card_text(app))
        assert balance_of(people_store, IVAN) == 25

        await pilot.press("ctrl+z", "ctrl+z")  # the second press confirms
        await settle(pilot, lambda: "undone" in card_text(app))
        text = card_text(app)
        assert f"Check-in of {IVAN} undone." in text
        assert f"Band {IVAN_BAND} returned." in text
        assert "25 pre-event points wait for the next band." in text
        assert "warn" in card_classes(app)

    card = desk.attendee_card(people_store, ivan)
    assert card.checked_in_at is None
    assert card.band_uid is None
    assert band_state(people_store, IVAN_BAND) == "returned"
    assert balance_of(people_store, IVAN) == 0
    assert card.pending_points == 25


async def test_band_typed_by_a_wedge_reader_under_a_russian_layout_binds(
    make_app: AppFactory, people_store: Store
) -> None:
    ivan = attendee_id(people_store, IVAN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, IVAN)
        await check_in_shown(pilot)
        assert app.focused is app.screen.query_one("#scan", Input)
        typed = russian_layout(IVAN_BAND.lower())
        assert typed != IVAN_BAND.lower()  # the letters arrive as Cyrillic
        await scan(pilot, typed, "Done")
        assert f"Band {IVAN_BAND} · balance 0" in card_text(app)
        assert desk.attendee_card(people_store, ivan).band_uid == IVAN_BAND


# -- refusals ---------------------------------------------------------------------------------


async def test_second_check_in_is_stopped(make_app: AppFactory, people_store: Store) -> None:
    anna = attendee_id(people_store, "Anna Smith")
    assert desk.attendee_card(people_store, anna).checked_in_at is None  # a band, no check-in
    desk.check_in(people_store, Actor(station="desk-1", staff="Айгерим"), anna)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, "Anna Smith")
        assert "ALREADY CHECKED IN" in card_text(app)
        assert "at desk-1 by Айгерим" in card_text(app)
        assert "stop" in card_classes(app)

        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "already checked in" in card_text(app))
        assert "Anna Smith was already checked in at" in card_text(app)
        assert card_classes(app) & {"stop", "error"}
        assert not colour_shown(app)


async def test_someone_elses_band_is_refused_while_waiting_for_a_band(
    make_app: AppFactory, people_store: Store
) -> None:
    ivan = attendee_id(people_store, IVAN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await open_card(pilot, people_store, IVAN)
        await check_in_shown(pilot)

        tap(app, ANNA_UID)
        hint = app.screen.query_one("#colour-hint", Static)
        await settle(pilot, lambda: "already" in str(hint.render()))
        # The colour stays on screen (Иван still waits for his band) with why and what to do.
        assert "This band is already Anna Smith's" in str(hint.render())
        assert "Tap another band" in str(hint.render())
        assert app.screen.query_one("#colour").display
        assert desk.attendee_card(people_store, ivan).band_uid is None
        assert band_state(people_store, ANNA_UID) == "active"

        tap(app, IVAN_BAND)  # Иван still waits for a band: the right one binds
        await settle(pilot, lambda: "Done" in card_text(app))
        assert desk.attendee_card(people_store, ivan).band_uid == IVAN_BAND


# -- walk-ins ---------------------------------------------------------------------------------


async def fill_walk_in(pilot: Pilot[None], name: str, email: str, company: str) -> None:
    await pilot.press("ctrl+n")
    await settle(pilot, lambda: isinstance(pilot.app.screen, WalkInScreen))
    screen = pilot.app.screen
    screen.query_one("#walk-name", Input).value = name
    screen.query_one("#walk-email", Input).value = email
    screen.query_one("#walk-company", Input).value = company
    await pilot.pause()


async def test_walk_in_is_registered_and_opened(make_app: AppFactory, people_store: Store) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await fill_walk_in(pilot, "Гульнара Ахметова", "Gulnara@Example.kz", "Kaspi Demo")
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: "Гульнара Ахметова" in card_text(app))
        assert isinstance(app.screen, DeskScreen)
        text = card_text(app)
        assert "Kaspi Demo" in text
        assert "Registered via: walk-in" in text
        assert "gulnara@example.kz" in text
        assert "Not checked in yet" in text

        await check_in_shown(pilot)  # the new person goes straight on to check-in
        assert colour_name(app) == "Blue"  # field "other" → the default colour


async def test_walk_in_with_a_known_email_offers_that_person(
    make_app: AppFactory, people_store: Store
) -> None:
    anna = desk.attendee_card(people_store, attendee_id(people_store, "Anna Smith"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await fill_walk_in(pilot, "Anna S.", str(anna.email).upper(), "Other Co")
        await pilot.press("ctrl+o")
        hint = app.screen.query_one("#walk-hint", Static)
        await settle(pilot, lambda: "already registered" in str(hint.render()))
        assert isinstance(app.screen, WalkInScreen)
        assert f"Anna Smith is already registered with {anna.email}" in str(hint.render())

        await pilot.press("ctrl+o")  # opens Anna instead of registering a second Anna
        await settle(pilot, lambda: "Anna Smith" in card_text(app))
        assert isinstance(app.screen, DeskScreen)
        assert f"Invitation {anna.code}" in card_text(app)
    with people_store.db.read() as conn:
        attendee_t = Attendee.__table__  # type: ignore[attr-defined]
        names = list(conn.execute(select(attendee_t.c.name)).scalars())
    assert "Anna S." not in names


async def test_walk_in_with_a_corrected_email_registers_the_new_person(
    make_app: AppFactory, people_store: Store
) -> None:
    anna = desk.attendee_card(people_store, attendee_id(people_store, "Anna Smith"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_desk(pilot)
        await fill_walk_in(pilot, "Marat Sadykov", str(anna.email), "Other Co")
        await pilot.press("ctrl+o")
        hint = app.screen.query_one("#walk-hint", Static)
        await settle(pilot, lambda: "already registered" in str(hint.render()))

        # A typo: the desk corrects the e-mail and registers again.
        app.screen.query_one("#walk-email", Input).value = "marat@example.kz"
        await pilot.pause()
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
        await settle(pilot, lambda: "Marat Sadykov" in card_text(app))
        assert "Marat Sadykov" in card_text(app)
        assert "Anna Smith" not in card_text(app)


# -- the look ---------------------------------------------------------------------------------


class TestDeskLook:
    """Nothing on these screens depends on the clock.

    The card of a person not yet checked in shows no time at all. The colour screen shows the
    colour and the name; the check-in time (``CheckInResult.at_local``) is never rendered there,
    and the card behind it is hidden. So both are snapshotted as they are, nothing patched;
    each waits until no tap flash (a 0.7 s outline of the screen) is showing.
    """

    def test_card_not_checked_in(
        self, snap_compare: Any, make_app: AppFactory, people_store: Store
    ) -> None:
        async def opened(pilot: Pilot[None]) -> None:
            await open_desk(pilot)
            await open_card(pilot, people_store, IVAN)
            await flash_gone(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=opened)

    def test_colour_after_check_in(
        self, snap_compare: Any, make_app: AppFactory, people_store: Store
    ) -> None:
        async def checked_in(pilot: Pilot[None]) -> None:
            await open_desk(pilot)
            await open_card(pilot, people_store, IVAN)
            await check_in_shown(pilot)
            assert colour_name(pilot.app) == "Blue"
            await flash_gone(pilot)

        assert snap_compare(make_app(), terminal_size=SIZE, run_before=checked_in)
