"""The tapdesk App: owns the store, the reader thread and the station identity."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from hardware import Reader, ReaderState, Tap
from hardware.wedge import parse_wedge
from screens import HelpScreen, RolePickerScreen, SimulatedTapScreen, StationScreen
from screens.bands import BandsScreen
from screens.coats import CoatsScreen
from screens.counter import CounterScreen
from screens.desk import DeskScreen
from screens.hub import HubScreen
from screens.sign_in import SignInScreen
from store import staff
from store.bands import resolve_wedge_read
from store.context import Actor, new_id
from store.errors import DomainError
from store.i18n import _
from store.live import ChangeWatcher
from store.outbox import Outbox, OutboxEntry, replay
from store.service import HEARTBEAT_SECONDS, Store
from store.staff import StaffInfo
from tui.messages import DataChanged, OutboxChanged, TapDetected
from tui.settings import ROLES
from tui.theme import TAPDESK_THEME
from tui.widgets import role_title

__all__ = ["TapdeskApp"]

log = logging.getLogger("tapdesk.ui")

#: Textual's own screen keys, left out of the help list (they are the same everywhere).
_GENERIC = frozenset({"app.focus_next", "app.focus_previous", "screen.copy_text"})


class TapdeskApp(App[None]):
    """One station. Everything it uses is handed in by ``tui/cli.py``; nothing is made at import."""

    CSS_PATH = Path(__file__).with_name("tapdesk.tcss")
    TITLE = "tapdesk"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", _("Quit"), priority=True),
        Binding("ctrl+g,f1", "help", _("Keys"), priority=True),
        Binding("ctrl+t", "simulate_tap", _("Simulated tap"), priority=True),
        Binding("ctrl+r", "pick_role", _("Change role"), priority=True),
        Binding("ctrl+l", "sign_out", _("Sign out"), priority=True),
    ]

    event_name: reactive[str | None] = reactive(None)
    staff_name: reactive[str | None] = reactive(None)
    reader_state: reactive[str] = reactive("starting")
    db_state: reactive[str] = reactive("ok")
    role: reactive[str | None] = reactive(None)

    def __init__(
        self,
        *,
        store: Store,
        reader: Reader,
        station: str,
        role: str | None = None,
        demo: bool = False,
        event_name: str | None = None,
        heartbeat: bool = True,
        demo_pins: dict[str, str] | None = None,
        flash_seconds: float = 0.7,
        live_seconds: float = 0.5,
        outbox: Outbox | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.reader = reader
        self.reader_spec = reader.spec
        self.station = station
        self.demo = demo
        self._initial_role = role
        self._heartbeat_enabled = heartbeat
        self._demo_pins = demo_pins
        self._flash_seconds = flash_seconds
        self._live_seconds = live_seconds
        self.outbox = outbox
        self._watcher = ChangeWatcher(store)
        self._outbox_due = outbox is not None
        self._polling = threading.Lock()
        self._flushing = threading.Lock()
        self._zone = ZoneInfo("UTC")
        self.staff: StaffInfo | None = None
        self.set_reactive(TapdeskApp.event_name, event_name)

    # -- start and stop ---------------------------------------------------------------------

    def on_mount(self) -> None:
        try:
            self._zone = ZoneInfo(self.store.event_timezone())
        except (ZoneInfoNotFoundError, DomainError):
            log.warning("event time zone unavailable; showing UTC")
        self.register_theme(TAPDESK_THEME)
        self.theme = TAPDESK_THEME.name
        self.push_screen(SignInScreen(self._demo_pins))
        self.read_taps()
        if self._heartbeat_enabled:
            self.heartbeat()
            self.set_interval(HEARTBEAT_SECONDS, self.heartbeat)
        self.set_interval(self._live_seconds, self.poll_changes)

    @work(thread=True, group="reader", exit_on_error=False)
    def read_taps(self) -> None:
        """Run the reader in this thread until the App stops it.

        The worker's cancellation event is the reader's stop signal, so ctrl+q ends the loop
        cooperatively; results go back by ``post_message`` (``call_from_thread`` blocks and
        raises during shutdown).
        """
        stop = get_current_worker().cancelled_event
        try:
            for event in self.reader.events(stop):
                if isinstance(event, Tap):
                    self.post_message(
                        TapDetected(
                            uid=event.uid, reader=event.reader, at=event.at, correlation_id=new_id()
                        )
                    )
                elif isinstance(event, ReaderState):
                    self.call_later(self._set_reader_state, event)
        except Exception as exc:  # the reader must never take the station down
            log.exception("reader stopped")
            self.call_later(self._set_reader_state, ReaderState("error", str(exc)))

    def _set_reader_state(self, state: ReaderState) -> None:
        self.reader_state = state.code
        if state.detail:
            log.info(
                "reader state",
                extra={"reader": self.reader_spec, "state": state.code, "detail": state.detail},
            )

    @work(thread=True, group="heartbeat", exclusive=True, exit_on_error=False)
    def heartbeat(self) -> None:
        """Announce this station; the answer tells whether the database is reachable."""
        try:
            self.store.announce(self.station, self.role, self.staff_name, self.reader_state)
            self.store.db.checkpoint()
        except DomainError:
            self.call_later(setattr, self, "db_state", "unreachable")
        except Exception:
            log.warning("heartbeat failed", exc_info=True)
            self.call_later(setattr, self, "db_state", "unreachable")
        else:
            self.call_later(setattr, self, "db_state", "ok")

    @work(thread=True, group="live", exclusive=True, exit_on_error=False)
    def poll_changes(self) -> None:
        """Look whether anything was committed anywhere; if so, tell every screen to refresh.

        Runs every ``live_seconds`` (half a second), which is also the debounce: a burst of
        commits refreshes a screen at most once per poll. A poll that fails (the database is
        away) changes nothing; the first one that succeeds reports what changed meanwhile and
        sends the awards this station kept offline.
        """
        # A poll can hang for the connect time-out while the database is away: never pile up
        # threads behind it.
        if not self._polling.acquire(blocking=False):
            return
        try:
            seq = self._watcher.poll()
        except Exception:  # the heartbeat reports an unreachable database
            log.debug("change poll failed", exc_info=True)
            return
        finally:
            self._polling.release()
        if self._outbox_due:
            self.flush_outbox()
        if seq is not None:
            self.post_message(DataChanged(seq))

    def outbox_added(self) -> None:
        """A screen kept an award in the outbox: send it as soon as the database answers."""
        self._outbox_due = True
        self._post_outbox_state(())

    @work(thread=True, group="outbox", exclusive=True, exit_on_error=False)
    def flush_outbox(self) -> None:
        """Send the awards kept while the database was away, each once, by its operation id."""
        box = self.outbox
        if box is None or not self._flushing.acquire(blocking=False):
            return  # no outbox, or a replay is already under way
        try:
            self._replay(box)
        finally:
            self._flushing.release()

    def _replay(self, box: Outbox) -> None:
        settled: list[tuple[OutboxEntry, object | None, str]] = []

        def on_result(entry: OutboxEntry, result: object | None, error: DomainError | None) -> None:
            settled.append((entry, result, error.message if error else ""))

        try:
            report = replay(self.store, box, on_result)
        except Exception:
            log.warning("outbox replay failed", exc_info=True)
            return
        self._outbox_due = report.pending > 0
        if settled or report.pending:
            self._post_outbox_state(tuple(settled))

    def _post_outbox_state(
        self, settled: tuple[tuple[OutboxEntry, object | None, str], ...]
    ) -> None:
        box = self.outbox
        if box is None:
            return
        message = OutboxChanged(
            pending=box.pending_count(), refused=len(box.entries("refused")), settled=settled
        )
        for screen in self.screen_stack:
            screen.post_message(OutboxChanged(message.pending, message.refused, message.settled))

    def on_unmount(self) -> None:
        self._watcher.close()

    def on_data_changed(self, message: DataChanged) -> None:
        """Forward a change to every screen on the stack (each refreshes what it shows)."""
        for screen in self.screen_stack:
            screen.post_message(DataChanged(message.change_seq))

    # -- taps -------------------------------------------------------------------------------

    def on_tap_detected(self, message: TapDetected) -> None:
        """Forward a reader's tap to the top screen that takes taps."""
        log.info(
            "tap",
            extra={
                "uid": message.uid,
                "reader": message.reader,
                "correlation_id": message.correlation_id,
            },
        )
        for screen in reversed(self.screen_stack):
            if getattr(screen, "accepts_taps", False):
                screen.post_message(
                    TapDetected(
                        uid=message.uid,
                        reader=message.reader,
                        at=message.at,
                        correlation_id=message.correlation_id,
                    )
                )
                return
        self.notify(_("Choose a role first: the tap was not used."), severity="warning")

    def scan_band(self, text: str) -> bool:
        """Treat what a keyboard-wedge reader typed as a tap; False when it is not a band UID.

        A plain UID becomes a tap at once. A read that needs the database (either byte order, or
        a reader that typed only the first part of a 7-byte UID) is resolved in a worker first;
        one that cannot be told apart is refused with a message, never guessed.
        """
        read = parse_wedge(text)
        if read.kind == "invalid":
            return False
        if read.kind == "uid" and len(read.candidates) == 1:
            self._wedge_tap(read.candidates[0])
        else:
            self.resolve_scan(read.candidates, read.prefix or None)
        return True

    def _wedge_tap(self, uid: str) -> None:
        self.post_message(
            TapDetected(uid=uid, reader="wedge", at=datetime.now(UTC), correlation_id=new_id())
        )

    @work(thread=True, group="wedge", exit_on_error=False)
    def resolve_scan(self, candidates: tuple[str, ...], prefix: str | None) -> None:
        """Find the band a partial or byte-order-ambiguous read means (runs in a thread)."""
        try:
            uid = resolve_wedge_read(self.store, candidates, prefix)
        except DomainError as error:
            self.call_later(self.notify, error.message, severity="error", timeout=8)
            return
        self.call_later(self._wedge_tap, uid)

    def local_time(self, moment: datetime, fmt: str = "%H:%M:%S") -> str:
        """A stored time as the event's clocks show it (the event's time zone, not the laptop's)."""
        return moment.astimezone(self._zone).strftime(fmt)

    def flash(self, ok: bool) -> None:
        """A visible flash of the whole screen: green for success, red for a refusal.

        Every reader gets it (most cannot beep or light up under nfcpy); it says "done" or
        "look at the screen" to someone whose eyes are on the queue.
        """
        if self._flash_seconds <= 0:
            return
        screen = self.screen
        name = "-flash-ok" if ok else "-flash-fail"
        screen.remove_class("-flash-ok", "-flash-fail")
        screen.add_class(name)
        self.set_timer(self._flash_seconds, lambda: screen.remove_class(name))

    def simulate_tap(self, uid: str) -> None:
        """Place ``uid`` on the simulated reader."""
        place = getattr(self.reader, "place", None)
        if callable(place):
            place(uid)

    # -- identity ---------------------------------------------------------------------------

    def actor(self, correlation_id: str | None = None) -> Actor:
        """A new :class:`Actor` for one user action at this station."""
        return Actor(
            station=self.station,
            staff=self.staff_name,
            correlation_id=correlation_id or new_id(),
            staff_id=self.staff.id if self.staff else None,
        )

    def staff_roles(self) -> tuple[str, ...]:
        """The station roles the signed-in staff member holds (an organiser holds them all)."""
        if self.staff is None:
            return ()
        if "organiser" in self.staff.roles:
            return ROLES
        return tuple(role for role in ROLES if role in self.staff.roles)

    def signed_in(self, info: StaffInfo) -> None:
        """A staff member signed in: open their role (or let them pick one)."""
        self.staff = info
        self.staff_name = info.name
        roles = self.staff_roles()
        wanted = self._initial_role or self.role
        if wanted in roles:
            self.open_role(wanted)
        elif len(roles) == 1:
            self.open_role(roles[0])
        else:
            self.role = None
            self.switch_screen(RolePickerScreen(roles))
        log.info("signed in", extra={"staff": info.id})

    def open_role(self, role: str) -> None:
        """Show the screen of ``role`` in place of the current top screen."""
        if role not in self.staff_roles():
            self.notify(_("You do not hold that role."), severity="error")
            return
        self.role = role
        screen: Screen[None]
        if role == "desk":
            screen = DeskScreen()
        elif role == "hub":
            screen = HubScreen()
        elif role == "bands":
            screen = BandsScreen()
        elif role == "coats":
            screen = CoatsScreen()
        elif role == "counter":
            screen = CounterScreen()
        else:
            screen = StationScreen(role)
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(screen)
        self.sub_title = role_title(role)

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "simulate_tap":
            # The simulated reader and the emulated one (a tag over nfcpy's UDP driver).
            return callable(getattr(self.reader, "place", None))
        if action in ("sign_out", "pick_role"):
            return self.staff is not None
        return True

    def action_simulate_tap(self) -> None:
        """Open the simulated reader's picker."""
        if isinstance(self.screen, SimulatedTapScreen):
            return
        self.push_screen(SimulatedTapScreen(), self._picked)

    def _picked(self, uid: str | None) -> None:
        if uid:
            self.simulate_tap(uid)

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            # The station's own keys (screen and App), not every editing key of the focused field.
            if not isinstance(active.node, (App, Screen)) or active.binding.action in _GENERIC:
                continue
            binding = active.binding
            if not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((self.get_key_display(binding), binding.description))
        title = role_title(self.role) if self.role else _("this screen")
        self.push_screen(HelpScreen(title, keys))

    def action_pick_role(self) -> None:
        """Go back to the role picker."""
        if self.staff is None:
            return
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if not isinstance(self.screen, RolePickerScreen):
            self.role = None
            self.switch_screen(RolePickerScreen(self.staff_roles()))

    def action_sign_out(self) -> None:
        """Sign the staff member out (a shift change): back to the sign-in screen."""
        if self.staff is None:
            return
        self.record_sign_out(self.staff.id)
        self.staff = None
        self.staff_name = None
        self.role = None  # the next person starts from their own roles
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(SignInScreen(self._demo_pins))

    @work(thread=True, group="sign-out", exit_on_error=False)
    def record_sign_out(self, staff_id: str) -> None:
        """Write the sign-out to the audit log."""
        staff.sign_out(self.store, self.actor(), staff_id)
