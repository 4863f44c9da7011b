"""Staff sign-in: PIN, staff band, wrong PIN, roles offered, sign-out."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import OptionList, Static

from screens import RolePickerScreen
from screens.coats import CoatsScreen
from screens.desk import DeskScreen
from screens.sign_in import SignInScreen
from store.context import new_id
from tests.tui.conftest import DESK, ORGANISER, ORGANISER_BAND, PINS, AppFactory, settle, sign_in
from tui.messages import TapDetected
from tui.widgets import StationHeader

SIZE = (120, 40)


def header(app: object) -> str:
    return str(app.screen.query_one(StationHeader).render())  # type: ignore[attr-defined]


async def test_station_starts_signed_out_and_pin_signs_in(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert "not signed in" in header(app)
        await sign_in(pilot, ORGANISER)
        assert isinstance(app.screen, RolePickerScreen)
        assert app.screen.query_one("#roles", OptionList).option_count == 5  # an organiser: all
        assert "Динара Мусина" in header(app)


async def test_single_role_staff_go_straight_to_their_screen(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, DESK)
        assert isinstance(app.screen, DeskScreen)
        assert app.role == "desk"


async def test_role_flag_is_honoured_only_when_held(make_app: AppFactory) -> None:
    app = make_app(role="counter")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, DESK)  # a desk person on a laptop started as a counter
        assert isinstance(app.screen, DeskScreen)
    app = make_app(role="coats")
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, ORGANISER)
        assert isinstance(app.screen, CoatsScreen)


async def test_wrong_pin_is_refused_and_recorded(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        options = app.screen.query_one("#staff", OptionList)
        await settle(pilot, lambda: options.option_count > 0)
        options.highlighted = options.get_option_index(DESK)
        await pilot.press("enter", "0", "0", "0", "0", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert "Wrong PIN" in str(app.screen.query_one("#sign-in-message", Static).render())
        await pilot.press(*PINS[DESK], "enter")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
        assert isinstance(app.screen, DeskScreen)


async def test_staff_band_signs_in_and_ctrl_l_signs_out(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.post_message(
            TapDetected(
                uid=ORGANISER_BAND, reader="sim", at=datetime.now(UTC), correlation_id=new_id()
            )
        )
        await settle(pilot, lambda: isinstance(app.screen, RolePickerScreen))
        assert app.staff is not None and app.staff.id == ORGANISER
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+l")
        await settle(pilot, lambda: isinstance(app.screen, SignInScreen))
        assert isinstance(app.screen, SignInScreen)
        assert app.staff is None
        assert "not signed in" in header(app)


async def test_an_attendee_band_does_not_sign_in(make_app: AppFactory) -> None:
    from tests.tui.conftest import ANNA_UID

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.post_message(
            TapDetected(uid=ANNA_UID, reader="sim", at=datetime.now(UTC), correlation_id=new_id())
        )
        await settle(pilot)
        assert isinstance(app.screen, SignInScreen)
        assert "not a staff band" in str(app.screen.query_one("#sign-in-message", Static).render())


async def test_demo_sign_in_lists_pins(make_app: AppFactory) -> None:
    app = make_app(demo_pins=PINS)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        options = app.screen.query_one("#staff", OptionList)
        await settle(pilot, lambda: options.option_count > 0)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("PIN 9001" in label and "Динара" in label for label in labels)
