"""The registration desk: find the person, check them in, hand the colour, bind the band.

Each writing function is one operation (:meth:`store.service.Store.run`): idempotent by the
actor's operation id, stamped with the database clock, audited, refused with a message the desk
can act on. What two desks could race on is decided by the database:

- a check-in is a guarded ``UPDATE attendee ... WHERE checked_in_at IS NULL`` (and a partial
  unique index allows one current ``check_in`` row per attendee);
- a band is claimed by ``INSERT ... ON CONFLICT DO NOTHING`` or a guarded UPDATE of a returned
  band (and the partial unique index allows one active band per attendee);
- pre-event points are taken by ``UPDATE pending_points ... WHERE posted_op_id IS NULL``, so each
  row is posted once, whoever tries and however often.

On PostgreSQL the common check-in and the common bind are each ONE statement (data-modifying
CTEs with the same guards, through :meth:`~store.service.Store.run_one_statement`); anything
unusual rolls back and takes the step-by-step path, which words the refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from sqlalchemy import Connection, Table, and_, bindparam, func, insert, select, text, update
from sqlalchemy.sql.elements import TextClause

from store import codec
from store.context import Actor
from store.driver import SAVE_RESULT, DriverConnection, actor_params, compact
from store.errors import NotFound, Refused
from store.i18n import _
from store.invites import new_code, normalise_code, parse_scan
from store.ledger import account_t, insert_ignore, post_transfer, system_account_id, transfer_t
from store.models import Attendee, Band, CheckIn, ColourGroup, Event, PendingPoints
from store.search import index_attendees
from store.service import Fallback, Store

__all__ = [
    "AlreadyRegistered",
    "AttendeeCard",
    "BindResult",
    "CheckInResult",
    "UndoResult",
    "attendee_card",
    "bind_band",
    "check_in",
    "find_by_code",
    "known_fields",
    "override_colour",
    "register_walk_in",
    "undo_last_check_in",
    "valid_email",
]

R = TypeVar("R")

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
check_in_t: Table = CheckIn.__table__  # type: ignore[attr-defined]
colour_t: Table = ColourGroup.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
pending_t: Table = PendingPoints.__table__  # type: ignore[attr-defined]

#: How long a desk may undo its last check-in when the event file does not say.
DEFAULT_UNDO_MINUTES = 15
#: What a bind calls the transfer of the points earned before the event.
PRE_EVENT_CODE = "pre-event"
#: ``registered_via`` of people registered at the desk.
WALK_IN = "walk-in"
#: The field every event has, whatever its colour groups list.
OTHER_FIELD = "other"

_EMAIL = re.compile(r"^[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[^@\s,;<>()\"'.]{2,}$")
_UID = re.compile(r"^[0-9A-F]{4,32}$")


def valid_email(email: str) -> bool:
    """Whether ``email`` (already stripped) looks like an address a mail server would take."""
    return bool(_EMAIL.match(email)) and ".." not in email


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttendeeCard:
    """Everything the desk shows about one person."""

    attendee_id: int
    name: str
    company: str
    field: str
    tags: tuple[str, ...]
    registered_via: str
    email: str | None
    code: str
    pending_points: int
    """Pre-event points waiting to be posted when a band is bound."""
    checked_in_at: datetime | None
    checked_in_local: str | None
    """The check-in time as HH:MM in the event's time zone."""
    checked_in_station: str | None
    checked_in_staff: str | None
    colour_id: str | None
    colour_name: str | None
    colour_name_ru: str | None
    colour_hex: str | None
    band_uid: str | None
    """The attendee's active band, if any."""
    balance: int
    active: bool


@dataclass(frozen=True, slots=True)
class CheckInResult:
    """A person checked in (or their colour changed): the colour to hand out."""

    attendee_id: int
    name: str
    at: datetime
    at_local: str
    station: str
    staff: str | None
    colour_id: str
    colour_name: str
    colour_name_ru: str | None
    colour_hex: str
    rule_colour_id: str
    """The colour the event's rule chose from the attendee's field."""
    overridden: bool
    """True when the desk handed out another colour than the rule's."""
    colours: tuple[str, ...]
    """Every colour id of the event in file order, to offer another one."""
    pending_points: int
    """Pre-event points that will be posted when the band is bound."""


@dataclass(frozen=True, slots=True)
class BindResult:
    """A band bound to a checked-in person, with their pre-event points posted."""

    uid: str
    attendee_id: int
    name: str
    balance: int
    points_posted: int
    transfer_id: int | None
    """The one pre-event transfer (None when no points were waiting)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class UndoResult:
    """A check-in taken back."""

    attendee_id: int
    name: str
    checked_in_at: datetime
    band_uid: str | None
    """The band returned by the undo, if one had been bound."""
    points_reversed: int
    at: datetime
    message: str
    """One line for the desk saying what was undone."""


class AlreadyRegistered(Refused):
    """A walk-in whose e-mail is already registered: offer that attendee instead."""

    def __init__(self, attendee_id: int, card: AttendeeCard) -> None:
        super().__init__(
            _("{name} is already registered with {email} (invitation {code}).").format(
                name=card.name, email=card.email, code=card.code
            ),
            reason="already_registered",
        )
        self.attendee_id = attendee_id
        self.card = card


# -- the event's rules ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Colour:
    id: str
    name: str
    name_ru: str | None
    hex: str
    fields: frozenset[str]
    """The fields this colour stands for, case folded."""
    spelled: tuple[str, ...]
    """The same fields as the event file spells them."""


@dataclass(frozen=True, slots=True)
class _Rules:
    timezone: str
    default_colour: str | None
    undo_minutes: int
    colours: tuple[_Colour, ...]

    def colour(self, colour_id: str | None) -> _Colour | None:
        return next((c for c in self.colours if c.id == colour_id), None)

    def colour_for(self, field: str) -> _Colour | None:
        """The colour of ``field`` by the event's rule; the default colour for any other."""
        key = field.casefold()
        for colour in self.colours:
            if key in colour.fields:
                return colour
        return self.colour(self.default_colour) or (self.colours[0] if self.colours else None)

    def fields(self) -> dict[str, str]:
        """Every field the event knows (folded → as spelled in the event file)."""
        known = {OTHER_FIELD: OTHER_FIELD}
        for colour in self.colours:
            for spelled in colour.spelled:
                known[spelled.casefold()] = spelled
        return known


_EVENT = select(event_t.c.timezone, event_t.c.settings).order_by(event_t.c.id).limit(1)
_COLOURS = (
    select(colour_t.c.id, colour_t.c.name, colour_t.c.name_ru, colour_t.c.hex, colour_t.c.fields)
    .where(colour_t.c.active.is_(True))
    .order_by(colour_t.c.position, colour_t.c.id)
)


def _rules(conn: Connection) -> _Rules:
    row = conn.execute(_EVENT).first()
    settings: dict[str, Any] = {}
    if row is not None:
        try:
            settings = json.loads(row.settings or "{}")
        except ValueError:
            settings = {}
    limits = settings.get("limits") or {}
    colours = tuple(
        _Colour(
            id=r.id,
            name=r.name,
            name_ru=r.name_ru,
            hex=r.hex,
            fields=frozenset(f.casefold() for f in r.fields.split(";") if f),
            spelled=tuple(f for f in r.fields.split(";") if f),
        )
        for r in conn.execute(_COLOURS)
    )
    return _Rules(
        timezone=row.timezone if row is not None else "UTC",
        default_colour=(settings.get("colours") or {}).get("default"),
        undo_minutes=int(limits.get("undo_minutes_desk", DEFAULT_UNDO_MINUTES)),
        colours=colours,
    )


def local_time(moment: datetime | None, timezone: str) -> str:
    """``moment`` as HH:MM in the event's time zone ("?" for none)."""
    if moment is None:
        return "?"
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%H:%M")


# -- the card ---------------------------------------------------------------------------------

_PENDING_SUM = (
    select(func.coalesce(func.sum(pending_t.c.points), 0))
    .where(pending_t.c.attendee_id == attendee_t.c.id, pending_t.c.posted_op_id.is_(None))
    .scalar_subquery()
)
_CARD = (
    select(
        attendee_t,
        account_t.c.balance,
        band_t.c.uid.label("band_uid"),
        colour_t.c.name.label("colour_name"),
        colour_t.c.name_ru.label("colour_name_ru"),
        colour_t.c.hex.label("colour_hex"),
        _PENDING_SUM.label("pending"),
    )
    .select_from(
        attendee_t.outerjoin(account_t, account_t.c.attendee_id == attendee_t.c.id)
        .outerjoin(
            band_t, and_(band_t.c.attendee_id == attendee_t.c.id, band_t.c.state == "active")
        )
        .outerjoin(colour_t, colour_t.c.id == attendee_t.c.colour)
    )
    .where(attendee_t.c.id == bindparam("p_id"))
)
_ID_BY_CODE = select(attendee_t.c.id).where(attendee_t.c.code == bindparam("p_code"))
_ID_BY_EMAIL = select(attendee_t.c.id).where(attendee_t.c.email == bindparam("p_email"))


def _card(conn: Connection, attendee_id: int, timezone: str) -> AttendeeCard:
    row = conn.execute(_CARD, {"p_id": attendee_id}).first()
    if row is None:
        raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
    return AttendeeCard(
        attendee_id=row.id,
        name=row.name,
        company=row.company,
        field=row.field,
        tags=tuple(t for t in row.tags.split(";") if t),
        registered_via=row.registered_via,
        email=row.email,
        code=row.code,
        pending_points=int(row.pending),
        checked_in_at=row.checked_in_at,
        checked_in_local=(
            local_time(row.checked_in_at, timezone) if row.checked_in_at is not None else None
        ),
        checked_in_station=row.checked_in_station,
        checked_in_staff=row.checked_in_staff,
        colour_id=row.colour,
        colour_name=row.colour_name,
        colour_name_ru=row.colour_name_ru,
        colour_hex=row.colour_hex,
        band_uid=row.band_uid,
        balance=int(row.balance or 0),
        active=bool(row.active),
    )


def _timezone(conn: Connection) -> str:
    found = conn.execute(_EVENT).first()
    return found.timezone if found is not None else "UTC"


def attendee_card(store: Store, attendee_id: int) -> AttendeeCard:
    """The desk's view of one attendee; :class:`NotFound` if there is none."""
    with store.db.read() as conn:
        return _card(conn, attendee_id, _timezone(conn))


def first_match(store: Store, text: str) -> AttendeeCard | None:
    """The card of the first person the search finds for ``text`` (what Enter opens), or None."""
    from store.search import search_attendees

    hits = search_attendees(store, text, limit=1)
    return attendee_card(store, hits[0].attendee_id) if hits else None


def find_by_code(store: Store, code: str) -> AttendeeCard | None:
    """The attendee with invitation ``code`` (or a scanned ``TD:CODE``), or None."""
    normal = parse_scan(code) or normalise_code(code)
    if normal is None:
        return None
    with store.db.read() as conn:
        found = conn.execute(_ID_BY_CODE, {"p_code": normal}).scalar()
        if found is None:
            return None
        return _card(conn, int(found), _timezone(conn))


# -- check-in -----------------------------------------------------------------------------------

_FOR_CHECK_IN = select(
    attendee_t.c.name,
    attendee_t.c.field,
    attendee_t.c.active,
    attendee_t.c.checked_in_at,
    attendee_t.c.checked_in_station,
    attendee_t.c.checked_in_staff,
).where(attendee_t.c.id == bindparam("p_id"))
#: The guard: only a person not yet checked in matches, so two desks cannot both succeed.
_MARK_CHECKED_IN = (
    update(attendee_t)
    .where(attendee_t.c.id == bindparam("p_id"), attendee_t.c.checked_in_at.is_(None))
    .values(
        checked_in_at=bindparam("p_at"),
        checked_in_station=bindparam("p_station"),
        checked_in_staff=bindparam("p_staff"),
        colour=bindparam("p_colour"),
    )
)
_INSERT_CHECK_IN = insert(check_in_t)
_PENDING_OF = select(func.coalesce(func.sum(pending_t.c.points), 0)).where(
    pending_t.c.attendee_id == bindparam("p_id"), pending_t.c.posted_op_id.is_(None)
)


def _already_checked_in(name: str, row: Any, timezone: str) -> Refused:
    return Refused(
        _("{name} was already checked in at {time} at {station} by {staff}.").format(
            name=name,
            time=local_time(row.checked_in_at, timezone),
            station=row.checked_in_station or "?",
            staff=row.checked_in_staff or "?",
        ),
        reason="already_checked_in",
    )


def _require_colours(rules: _Rules) -> None:
    if not rules.colours:
        raise Refused(
            _(
                "No wristband colours are loaded: load the event file first "
                "(tapdesk event load FILE)."
            ),
            reason="no_colours",
        )


def check_in(store: Store, actor: Actor, attendee_id: int) -> CheckInResult:
    """Check the attendee in at this desk and say which colour of band to hand out.

    The colour follows the event's rule for the attendee's field (the default colour for a field
    no group lists). Refused when the person is already checked in (saying when, where and by
    whom, in the event's time zone) or when the registration was cancelled.
    """
    if store.one_statement:
        fast = _check_in_in_one_statement(store, actor, attendee_id)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> CheckInResult:
        rules = _rules(conn)
        person = conn.execute(_FOR_CHECK_IN, {"p_id": attendee_id}).first()
        if person is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        if not person.active:
            raise Refused(
                _("{name}'s registration was cancelled: ask the organisers.").format(
                    name=person.name
                ),
                reason="attendee_inactive",
            )
        if person.checked_in_at is not None:
            raise _already_checked_in(person.name, person, rules.timezone)
        _require_colours(rules)
        colour = rules.colour_for(person.field)
        assert colour is not None
        marked = conn.execute(
            _MARK_CHECKED_IN,
            {
                "p_id": attendee_id,
                "p_at": now,
                "p_station": actor.station,
                "p_staff": actor.staff,
                "p_colour": colour.id,
            },
        ).rowcount
        if marked != 1:
            # Another desk checked them in between our read and our write.
            again = conn.execute(_FOR_CHECK_IN, {"p_id": attendee_id}).one()
            raise _already_checked_in(person.name, again, rules.timezone)
        conn.execute(
            _INSERT_CHECK_IN,
            {
                "op_id": actor.op_id,
                "attendee_id": attendee_id,
                "at": now,
                "station": actor.station,
                "staff": actor.staff,
                "rule_colour": colour.id,
                "colour": colour.id,
                "pre_event_points": 0,
            },
        )
        pending = int(conn.execute(_PENDING_OF, {"p_id": attendee_id}).scalar_one())
        store.audit(conn, actor, now, "check_in", str(attendee_id), colour=colour.id)
        return _check_in_result(
            attendee_id,
            person.name,
            now,
            actor.station,
            actor.staff,
            colour,
            colour,
            rules,
            pending,
        )

    return store.run(actor, "check_in", work, CheckInResult)


def _check_in_result(
    attendee_id: int,
    name: str,
    at: datetime,
    station: str,
    staff: str | None,
    colour: _Colour,
    rule: _Colour | None,
    rules: _Rules,
    pending: int,
) -> CheckInResult:
    return CheckInResult(
        attendee_id=attendee_id,
        name=name,
        at=at,
        at_local=local_time(at, rules.timezone),
        station=station,
        staff=staff,
        colour_id=colour.id,
        colour_name=colour.name,
        colour_name_ru=colour.name_ru,
        colour_hex=colour.hex,
        rule_colour_id=rule.id if rule is not None else colour.id,
        overridden=rule is None or rule.id != colour.id,
        colours=tuple(c.id for c in rules.colours),
        pending_points=pending,
    )


_CURRENT_CHECK_IN = (
    select(check_in_t, attendee_t.c.name)
    .join(attendee_t, attendee_t.c.id == check_in_t.c.attendee_id)
    .where(check_in_t.c.attendee_id == bindparam("p_id"), check_in_t.c.undone_at.is_(None))
)


def override_colour(store: Store, actor: Actor, attendee_id: int, colour_id: str) -> CheckInResult:
    """Hand out another colour than the rule's (a designer who codes, a speaker's request).

    Recorded in the check-in row (when, where, by whom) and in the audit log with the colour it
    replaced. Refused for an unknown colour or a person not checked in.
    """

    def work(conn: Connection, now: datetime) -> CheckInResult:
        rules = _rules(conn)
        colour = rules.colour(colour_id)
        if colour is None:
            raise Refused(
                _("There is no wristband colour {colour}: choose one of {colours}.").format(
                    colour=colour_id, colours=", ".join(c.id for c in rules.colours) or "—"
                ),
                reason="unknown_colour",
            )
        current = conn.execute(_CURRENT_CHECK_IN, {"p_id": attendee_id}).first()
        if current is None:
            raise _not_checked_in(conn, attendee_id)
        changed = conn.execute(
            update(check_in_t)
            .where(check_in_t.c.id == current.id, check_in_t.c.undone_at.is_(None))
            .values(
                colour=colour.id,
                colour_changed_at=now,
                colour_changed_station=actor.station,
                colour_changed_staff=actor.staff,
            )
        ).rowcount
        if changed != 1:
            raise _not_checked_in(conn, attendee_id)
        conn.execute(
            update(attendee_t).where(attendee_t.c.id == attendee_id).values(colour=colour.id)
        )
        store.audit(
            conn,
            actor,
            now,
            "colour_override",
            str(attendee_id),
            colour=colour.id,
            was=current.colour,
            rule=current.rule_colour,
        )
        pending = int(conn.execute(_PENDING_OF, {"p_id": attendee_id}).scalar_one())
        return _check_in_result(
            attendee_id,
            current.name,
            current.at,
            current.station,
            current.staff,
            colour,
            rules.colour(current.rule_colour),
            rules,
            pending,
        )

    return store.run(actor, "colour_override", work, CheckInResult)


def _not_checked_in(conn: Connection, attendee_id: int) -> Refused:
    name = conn.execute(select(attendee_t.c.name).where(attendee_t.c.id == attendee_id)).scalar()
    if name is None:
        raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
    return Refused(
        _("{name} is not checked in yet: check them in first.").format(name=name),
        reason="not_checked_in",
    )


# -- binding the band ---------------------------------------------------------------------------

_FOR_BIND = (
    select(
        attendee_t.c.name,
        attendee_t.c.checked_in_at,
        attendee_t.c.checked_in_station,
        attendee_t.c.checked_in_staff,
        attendee_t.c.colour,
        account_t.c.id.label("account_id"),
        account_t.c.balance,
        band_t.c.uid.label("active_uid"),
        check_in_t.c.id.label("check_in_id"),
        check_in_t.c.band_uid.label("check_in_band"),
    )
    .select_from(
        attendee_t.join(account_t, account_t.c.attendee_id == attendee_t.c.id)
        .outerjoin(
            band_t, and_(band_t.c.attendee_id == attendee_t.c.id, band_t.c.state == "active")
        )
        .outerjoin(
            check_in_t,
            and_(check_in_t.c.attendee_id == attendee_t.c.id, check_in_t.c.undone_at.is_(None)),
        )
    )
    .where(attendee_t.c.id == bindparam("p_id"))
)
_BAND = (
    select(
        band_t.c.state,
        band_t.c.attendee_id,
        band_t.c.state_reason,
        band_t.c.state_at,
        band_t.c.state_station,
        band_t.c.state_staff,
        band_t.c.bound_at,
        attendee_t.c.name,
    )
    .select_from(band_t.outerjoin(attendee_t, attendee_t.c.id == band_t.c.attendee_id))
    .where(band_t.c.uid == bindparam("p_uid"))
)
_BAND_VALUES = {
    "attendee_id": bindparam("p_attendee"),
    "state": "active",
    "state_reason": "",
    "state_at": bindparam("p_now"),
    "state_station": bindparam("p_station"),
    "state_staff": bindparam("p_staff"),
    "bound_at": bindparam("p_now"),
}
#: A returned band (or an active one nobody holds) may be bound again; the guard makes the
#: second of two desks match nothing.
_REBIND = (
    update(band_t)
    .where(
        band_t.c.uid == bindparam("p_uid"),
        (band_t.c.state == "returned")
        | and_(band_t.c.state == "active", band_t.c.attendee_id.is_(None)),
    )
    .values(**_BAND_VALUES)
)
#: Every waiting pre-event row of the attendee, taken in one guarded statement.
_TAKE_PENDING = (
    update(pending_t)
    .where(pending_t.c.attendee_id == bindparam("p_attendee"), pending_t.c.posted_op_id.is_(None))
    .values(posted_op_id=bindparam("p_op"))
    .returning(pending_t.c.points)
)
_RECORD_BIND = (
    update(check_in_t)
    .where(
        check_in_t.c.id == bindparam("p_check_in"),
        check_in_t.c.undone_at.is_(None),
        check_in_t.c.band_uid.is_(None),
    )
    .values(
        band_uid=bindparam("p_uid"),
        bind_op_id=bindparam("p_op"),
        pre_event_transfer_id=bindparam("p_transfer"),
        pre_event_points=bindparam("p_points"),
    )
)


def _band_refusal(uid: str, band: Any, timezone: str) -> Refused:
    """Why band ``uid`` (its row as :data:`_BAND` reads it) cannot be bound."""
    if band.state == "active":
        return Refused(
            _("This band is already {name}'s (bound {time} at {station}).").format(
                name=band.name or "?",
                time=local_time(band.bound_at or band.state_at, timezone),
                station=band.state_station or "?",
            ),
            reason="band_taken",
        )
    if band.state in ("blocked", "lost"):
        what = _("reported lost") if band.state == "lost" else _("blocked")
        return Refused(
            _("Band {uid} is {what} ({reason}, {time} at {station}): take another band.").format(
                uid=uid,
                what=what,
                reason=band.state_reason or "—",
                time=local_time(band.state_at, timezone),
                station=band.state_station or "?",
            ),
            reason=f"band_{band.state}",
        )
    return Refused(
        _("Band {uid} cannot be bound now ({state}).").format(uid=uid, state=band.state),
        reason="band_state",
    )


def _claim_band(
    conn: Connection, actor: Actor, now: datetime, uid: str, attendee_id: int, timezone: str
) -> None:
    params = {
        "p_uid": uid,
        "p_attendee": attendee_id,
        "p_now": now,
        "p_station": actor.station,
        "p_staff": actor.staff,
    }
    band = conn.execute(_BAND, {"p_uid": uid}).first()
    if band is None:
        # RETURNING, not rowcount: through psycopg an INSERT reports a row count of -1.
        claimed = len(
            conn.execute(
                insert_ignore(conn, band_t)
                .values(uid=bindparam("p_uid"), **_BAND_VALUES)
                .returning(band_t.c.uid),
                params,
            ).all()
        )
    elif band.state == "returned" or (band.state == "active" and band.attendee_id is None):
        claimed = conn.execute(_REBIND, params).rowcount
    else:
        raise _band_refusal(uid, band, timezone)
    if claimed != 1:
        now_band = conn.execute(_BAND, {"p_uid": uid}).first()
        if now_band is None:
            # Nothing inserted and still no such band: the conflict was the attendee's (one
            # active band per person), so another desk bound them a band a moment ago.
            raise Refused(
                _("This person got another band at another desk a moment ago."),
                reason="has_band",
            )
        # Another desk took the band a moment earlier: say whose it is now.
        raise _band_refusal(uid, now_band, timezone)


def bind_band(store: Store, actor: Actor, attendee_id: int, uid: str) -> BindResult:
    """Bind band ``uid`` to a checked-in attendee and post their waiting pre-event points.

    All waiting pre-event rows become ONE transfer (this station's issuer → the attendee, code
    "pre-event") in the same transaction, marked posted by a guarded UPDATE: a retry of the same
    operation returns the first result, and a later bind with a new operation finds nothing
    waiting. Refused when the band is someone else's, blocked or lost, when the attendee is not
    checked in, or when they already got a band (a replacement is the wristband table's job).
    A returned band can be bound again.
    """
    band_uid = uid.strip().upper()
    if store.one_statement and _UID.match(band_uid):
        fast = _bind_in_one_statement(store, actor, attendee_id, band_uid)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> BindResult:
        if not _UID.match(band_uid):
            raise Refused(
                _("{uid} is not a band UID: tap the band on the reader.").format(uid=uid),
                reason="bad_uid",
            )
        timezone = _timezone(conn)
        person = conn.execute(_FOR_BIND, {"p_id": attendee_id}).first()
        if person is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        if person.checked_in_at is None:
            raise Refused(
                _("{name} is not checked in yet: check them in first.").format(name=person.name),
                reason="not_checked_in",
            )
        if person.active_uid == band_uid:
            raise Refused(
                _("Band {uid} is already {name}'s.").format(uid=band_uid, name=person.name),
                reason="already_bound",
            )
        if person.active_uid is not None or person.check_in_band is not None:
            raise Refused(
                _(
                    "{name} already has band {other}: send them to the wristband table to "
                    "replace it."
                ).format(name=person.name, other=person.active_uid or person.check_in_band),
                reason="has_band",
            )
        check_in_id = person.check_in_id
        if check_in_id is None:
            # Checked in before the desk kept check-in rows: record that check-in now.
            check_in_id = conn.execute(
                insert(check_in_t).returning(check_in_t.c.id),
                {
                    "op_id": actor.op_id,
                    "attendee_id": attendee_id,
                    "at": person.checked_in_at,
                    "station": person.checked_in_station or actor.station,
                    "staff": person.checked_in_staff,
                    "rule_colour": person.colour,
                    "colour": person.colour,
                    "pre_event_points": 0,
                },
            ).scalar_one()
        _claim_band(conn, actor, now, band_uid, attendee_id, timezone)
        points = [
            int(p)
            for p in conn.execute(
                _TAKE_PENDING, {"p_attendee": attendee_id, "p_op": actor.op_id}
            ).scalars()
        ]
        total = sum(points)
        balance = int(person.balance)
        transfer_id: int | None = None
        if total:
            posted = post_transfer(
                conn,
                actor,
                now,
                debit=system_account_id(conn, "issuer", actor.station),
                credit=person.account_id,
                amount=total,
                code=PRE_EVENT_CODE,
                reference=f"pre-event: {len(points)} entries",
            )
            balance, transfer_id = posted.credit_balance, posted.transfer_id
        recorded = conn.execute(
            _RECORD_BIND,
            {
                "p_check_in": check_in_id,
                "p_uid": band_uid,
                "p_op": actor.op_id,
                "p_transfer": transfer_id,
                "p_points": total,
            },
        ).rowcount
        if recorded != 1:
            raise Refused(
                _("{name} got a band at another desk a moment ago.").format(name=person.name),
                reason="has_band",
            )
        store.audit(conn, actor, now, "bind_band", band_uid, attendee_id=attendee_id, points=total)
        return BindResult(band_uid, attendee_id, person.name, balance, total, transfer_id, now)

    return store.run(actor, "bind_band", work, BindResult)


# -- check-in and bind in one statement (PostgreSQL) --------------------------------------------

#: ASCII upper and lower case: for ASCII text, ``str.casefold`` is exactly this mapping, which
#: ``translate()`` applies whatever the database's ctype (``lower()`` depends on it).
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
#: Printable ASCII only (a range of code points: no locale involved).
_ASCII = "^[ -~]*$"
#: An ISO timestamp as ``datetime.isoformat`` writes an aware UTC one (with microseconds).
_ISO_UTC = """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'"""


#: The common check-in as ONE statement (data-modifying CTEs): an active person not checked in
#: yet; the colour of their field by the event's rule (see below); the guarded UPDATE of
#: ``attendee ... WHERE checked_in_at IS NULL``; the ``check_in`` row (its partial unique index
#: allows one current check-in per person); the audit row; the operation row with its result as
#: ``codec.dump`` writes it; the station's change counter. When any part is missing — a
#: refusal to explain, a retried operation id, a colour the statement cannot decide exactly —
#: the caller rolls everything back and takes the step-by-step path.
#:
#: The colour: ``_Rules.colour_for`` folds case with ``str.casefold``, which SQL cannot copy in
#: general. When the person's field and every colour group's fields are printable ASCII,
#: folding is A-Z to a-z (``translate``), so the rule is applied exactly, default colour
#: included; comparisons are bytewise (``COLLATE "C"``). Otherwise only an exact match of the
#: field as the event file spells it is taken: the event file loader refuses one field (case
#: folded) under two colours, so that match is the rule's colour; no exact match falls back.
_CHECK_IN_CTE = text(
    compact(
        f"""
WITH person AS (
    SELECT a.id, a.name, a.field FROM attendee a
    WHERE a.id = :attendee_id AND a.active AND a.checked_in_at IS NULL AND a.field <> ''
      AND NOT EXISTS (SELECT 1 FROM operation o WHERE o.op_id = :op_id)
), ev AS (
    SELECT e.timezone,
           CASE WHEN jsonb_typeof(s.settings #> '{{colours,default}}') = 'string'
                THEN s.settings #>> '{{colours,default}}' END AS default_colour
    FROM event e, LATERAL (SELECT NULLIF(e.settings, '')::jsonb AS settings) s
    ORDER BY e.id LIMIT 1
), pal AS (
    SELECT g.id, g.name, g.name_ru, g.hex, g.position, g.fields
    FROM colour_group g WHERE g.active
), mode AS (
    SELECT bool_and(pal.fields ~ '{_ASCII}') AND bool_and(p.field ~ '{_ASCII}') AS folded
    FROM pal, person p
), rule AS (
    SELECT pal.* FROM pal, person p, mode m
    WHERE CASE WHEN m.folded
          THEN translate(p.field, '{_UPPER}', '{_LOWER}') COLLATE "C"
               = ANY(string_to_array(translate(pal.fields, '{_UPPER}', '{_LOWER}'), ';'))
          ELSE p.field COLLATE "C" = ANY(string_to_array(pal.fields, ';')) END
    ORDER BY pal.position, pal.id
    LIMIT 1
), chosen AS (
    SELECT * FROM rule
    UNION ALL
    (SELECT pal.* FROM pal, mode m
     WHERE m.folded AND NOT EXISTS (SELECT 1 FROM rule)
     ORDER BY pal.id COLLATE "C" = (SELECT default_colour FROM ev) DESC NULLS LAST,
              pal.position, pal.id
     LIMIT 1)
), marked AS (
    UPDATE attendee a
    SET checked_in_at = now(), checked_in_station = :station, checked_in_staff = :staff,
        colour = c.id
    FROM chosen c
    WHERE a.id = :attendee_id AND a.checked_in_at IS NULL
    RETURNING a.id, a.name, c.id AS colour_id, c.name AS colour_name,
              c.name_ru AS colour_name_ru, c.hex AS colour_hex
), recorded AS (
    INSERT INTO check_in (op_id, attendee_id, at, station, staff, rule_colour, colour,
                          pre_event_points)
    SELECT :op_id, m.id, now(), :station, :staff, m.colour_id, m.colour_id, 0 FROM marked m
    RETURNING attendee_id
), pending AS (
    SELECT coalesce(sum(pp.points), 0) AS total FROM pending_points pp
    WHERE pp.attendee_id = :attendee_id AND pp.posted_op_id IS NULL
), colours AS (
    SELECT array_agg(pal.id ORDER BY pal.position, pal.id) AS ids,
           string_agg(to_json(pal.id)::text, ', ' ORDER BY pal.position, pal.id) AS json
    FROM pal
), op AS (
    INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
    SELECT :op_id, 'check_in', :station, :staff, :correlation_id, now(),
        '{{"at": "' || {_ISO_UTC}
        || '", "at_local": "'
        || to_char(now() AT TIME ZONE coalesce((SELECT timezone FROM ev), 'UTC'), 'HH24:MI')
        || '", "attendee_id": ' || m.id
        || ', "colour_hex": ' || to_json(m.colour_hex)::text
        || ', "colour_id": ' || to_json(m.colour_id)::text
        || ', "colour_name": ' || to_json(m.colour_name)::text
        || ', "colour_name_ru": ' || coalesce(to_json(m.colour_name_ru)::text, 'null')
        || ', "colours": [' || cs.json
        || '], "name": ' || to_json(m.name)::text
        || ', "overridden": false, "pending_points": ' || pd.total
        || ', "rule_colour_id": ' || to_json(m.colour_id)::text
        || ', "staff": ' || coalesce(to_json(CAST(:staff AS text))::text, 'null')
        || ', "station": ' || to_json(CAST(:station AS text))::text || '}}'
    FROM marked m, pending pd, colours cs
    WHERE EXISTS (SELECT 1 FROM recorded)
    ON CONFLICT DO NOTHING
    RETURNING result
), audited AS (
    INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail)
    SELECT now(), :station, :staff, :correlation_id, 'check_in', CAST(m.id AS text),
           '{{"colour": ' || to_json(m.colour_id)::text || '}}'
    FROM marked m WHERE EXISTS (SELECT 1 FROM op)
), advanced AS (
    UPDATE station SET change_seq = change_seq + 1
    WHERE name = :station AND EXISTS (SELECT 1 FROM op)
)
SELECT m.id, m.name, m.colour_id, m.colour_name, m.colour_name_ru, m.colour_hex,
       now() AS now, cs.ids AS colours, pd.total AS pending,
       (SELECT timezone FROM ev) AS timezone, (SELECT result FROM op) AS result,
       CASE WHEN EXISTS (SELECT 1 FROM marked) AND NOT EXISTS (SELECT 1 FROM op)
            THEN tapdesk_fallback() END AS undone
FROM (SELECT 1) AS o
LEFT JOIN (marked m CROSS JOIN pending pd CROSS JOIN colours cs) ON true
"""
    )
)


def _one_statement(
    store: Store,
    actor: Actor,
    statement: TextClause,
    params: dict[str, Any],
    build: Callable[[Any], R],
    *,
    issuer: bool = False,
) -> R | None:
    """Run ``statement`` through :meth:`Store.run_one_statement`; ``build`` makes the result.

    ``build(row)`` returns the result the step path would return from the statement's row; the
    operation row keeps exactly ``codec.dump`` of it (saved again when the statement's own JSON
    differs). ``issuer``: the statement takes this station's issuer account as ``:issuer``.
    None when the step path must run.
    """

    issuer_id = store.issuer_id(actor.station) if issuer else None

    def attempt(conn: DriverConnection) -> R:
        values = {**params, **actor_params(actor)}
        if issuer_id is not None:
            values["issuer"] = issuer_id
        try:
            row = conn.execute(statement, values).first()
        except psycopg.DataError as exc:
            # A time zone or settings the database cannot read: the step path can.
            raise Fallback from exc
        if row is None or row.result is None:
            raise Fallback  # nothing to keep: a refusal, a retried operation id, a race lost
        result = build(row)
        dumped = codec.dump(result)
        if dumped != row.result:
            conn.execute(SAVE_RESULT, {"op_id": actor.op_id, "result": dumped})
        return result

    # All or nothing by itself (a race lost after writing undoes it: tapdesk_fallback()), so it
    # runs without BEGIN and COMMIT.
    return store.run_one_statement(actor, attempt, single=True)


def _check_in_in_one_statement(
    store: Store, actor: Actor, attendee_id: int
) -> CheckInResult | None:
    """The common case of :func:`check_in` on PostgreSQL in one round trip, or None."""

    def build(row: Any) -> CheckInResult:
        now = row.now.astimezone(UTC)
        return CheckInResult(
            attendee_id=int(row.id),
            name=row.name,
            at=now,
            at_local=local_time(now, row.timezone or "UTC"),
            station=actor.station,
            staff=actor.staff,
            colour_id=row.colour_id,
            colour_name=row.colour_name,
            colour_name_ru=row.colour_name_ru,
            colour_hex=row.colour_hex,
            rule_colour_id=row.colour_id,
            overridden=False,
            colours=tuple(row.colours),
            pending_points=int(row.pending),
        )

    return _one_statement(store, actor, _CHECK_IN_CTE, {"attendee_id": attendee_id}, build)


#: The common bind as ONE statement: a person checked in at a desk (their current ``check_in``
#: row has no band yet) and without an active band; a band UID never seen before, claimed by
#: ``INSERT ... ON CONFLICT DO NOTHING`` (its primary key and the partial unique index of one
#: active band per person decide a race); every waiting pre-event row taken by the guarded
#: ``UPDATE pending_points ... WHERE posted_op_id IS NULL`` and posted as ONE transfer from this
#: station's issuer (both balances in one guarded UPDATE, as ``post_transfer`` does); the
#: guarded ``UPDATE check_in ... WHERE band_uid IS NULL AND undone_at IS NULL``; the audit row;
#: the operation row with its result; the station's change counter. Each part depends on the
#: one before; when anything is missing — a band seen before (returned, blocked, someone
#: else's), no check-in row, a refusal, a retried operation id, a race lost — the caller rolls
#: everything back and takes the step-by-step path, which explains it.
_BIND_CTE = text(
    compact(
        f"""
WITH person AS (
    SELECT a.id, a.name, c.id AS account_id, c.balance, ci.id AS check_in_id
    FROM attendee a
    JOIN account c ON c.attendee_id = a.id
    JOIN check_in ci ON ci.attendee_id = a.id AND ci.undone_at IS NULL
    WHERE a.id = :attendee_id AND a.checked_in_at IS NOT NULL AND ci.band_uid IS NULL
      AND NOT EXISTS (SELECT 1 FROM band b WHERE b.attendee_id = a.id AND b.state = 'active')
      AND NOT EXISTS (SELECT 1 FROM band b WHERE b.uid = :uid)
      AND NOT EXISTS (SELECT 1 FROM operation o WHERE o.op_id = :op_id)
), claimed AS (
    INSERT INTO band (uid, attendee_id, state, state_reason, state_at, state_station,
                      state_staff, bound_at)
    SELECT :uid, p.id, 'active', '', now(), :station, :staff, now() FROM person p
    ON CONFLICT DO NOTHING
    RETURNING uid
), taken AS (
    UPDATE pending_points pp SET posted_op_id = :op_id
    FROM claimed
    WHERE pp.attendee_id = :attendee_id AND pp.posted_op_id IS NULL
    RETURNING pp.points
), total AS (
    SELECT CAST(coalesce(sum(points), 0) AS integer) AS points, count(*) AS entries FROM taken
), moved AS (
    UPDATE account
    SET balance = account.balance
        + CASE WHEN account.id = p.account_id THEN t.points ELSE -t.points END
    FROM person p, total t, claimed
    WHERE t.points > 0 AND account.id IN (:issuer, p.account_id)
      AND (account.id = p.account_id OR account.floor IS NULL
           OR account.balance - t.points >= account.floor)
    RETURNING account.id, account.balance
), posted AS (
    INSERT INTO transfer (op_id, seq, debit_account_id, credit_account_id, amount, code,
                          reference, station, staff, correlation_id, created_at)
    SELECT :op_id, 0, :issuer, p.account_id, t.points, :code,
           'pre-event: ' || t.entries || ' entries', :station, :staff, :correlation_id, now()
    FROM person p, total t
    WHERE (SELECT count(*) FROM moved) = 2
    RETURNING id
), recorded AS (
    UPDATE check_in ci
    SET band_uid = :uid, bind_op_id = :op_id, pre_event_transfer_id = (SELECT id FROM posted),
        pre_event_points = t.points
    FROM person p, total t, claimed
    WHERE ci.id = p.check_in_id AND ci.undone_at IS NULL AND ci.band_uid IS NULL
      AND (t.points = 0 OR EXISTS (SELECT 1 FROM posted))
    RETURNING ci.id
), bound AS (
    SELECT p.id, p.name, t.points, (SELECT id FROM posted) AS transfer_id,
           CASE WHEN t.points > 0
                THEN (SELECT balance FROM moved WHERE moved.id = p.account_id)
                ELSE p.balance END AS balance
    FROM person p, total t
    WHERE EXISTS (SELECT 1 FROM recorded)
), op AS (
    INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
    SELECT :op_id, 'bind_band', :station, :staff, :correlation_id, now(),
        '{{"at": "' || {_ISO_UTC}
        || '", "attendee_id": ' || b.id
        || ', "balance": ' || b.balance
        || ', "name": ' || to_json(b.name)::text
        || ', "points_posted": ' || b.points
        || ', "transfer_id": ' || coalesce(CAST(b.transfer_id AS text), 'null')
        || ', "uid": ' || to_json(CAST(:uid AS text))::text || '}}'
    FROM bound b
    ON CONFLICT DO NOTHING
    RETURNING result
), audited AS (
    INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail)
    SELECT now(), :station, :staff, :correlation_id, 'bind_band', :uid,
           '{{"attendee_id": ' || b.id || ', "points": ' || b.points || '}}'
    FROM bound b WHERE EXISTS (SELECT 1 FROM op)
), advanced AS (
    UPDATE station SET change_seq = change_seq + 1
    WHERE name = :station AND EXISTS (SELECT 1 FROM op)
)
SELECT b.id, b.name, b.points, b.transfer_id, b.balance, now() AS now,
       (SELECT result FROM op) AS result,
       CASE WHEN EXISTS (SELECT 1 FROM claimed) AND NOT EXISTS (SELECT 1 FROM op)
            THEN tapdesk_fallback() END AS undone
FROM (SELECT 1) AS one LEFT JOIN bound b ON true
"""
    )
)


def _bind_in_one_statement(
    store: Store, actor: Actor, attendee_id: int, band_uid: str
) -> BindResult | None:
    """The common case of :func:`bind_band` on PostgreSQL in one round trip, or None."""

    def build(row: Any) -> BindResult:
        transfer_id = int(row.transfer_id) if row.transfer_id is not None else None
        return BindResult(
            band_uid,
            int(row.id),
            row.name,
            int(row.balance),
            int(row.points),
            transfer_id,
            row.now.astimezone(UTC),
        )

    return _one_statement(
        store,
        actor,
        _BIND_CTE,
        {"attendee_id": attendee_id, "uid": band_uid, "code": PRE_EVENT_CODE},
        build,
        issuer=True,
    )


# -- undo ---------------------------------------------------------------------------------------

_LAST_OF_DESK = (
    select(check_in_t, attendee_t.c.name)
    .join(attendee_t, attendee_t.c.id == check_in_t.c.attendee_id)
    .where(check_in_t.c.station == bindparam("p_station"), check_in_t.c.undone_at.is_(None))
    .order_by(check_in_t.c.at.desc(), check_in_t.c.id.desc())
    .limit(1)
)


def _reverse_pre_event(
    conn: Connection, actor: Actor, now: datetime, transfer_id: int, name: str
) -> int:
    """Correct the pre-event transfer as :func:`store.points.correct` does; the points moved."""
    original = conn.execute(select(transfer_t).where(transfer_t.c.id == transfer_id)).one()
    corrected = conn.execute(
        select(transfer_t.c.id).where(transfer_t.c.corrects_id == transfer_id)
    ).first()
    if corrected is not None:
        # Someone already corrected it by hand: the points are back where they came from.
        return 0
    try:
        post_transfer(
            conn,
            actor,
            now,
            debit=original.credit_account_id,
            credit=original.debit_account_id,
            amount=original.amount,
            code="correction",
            reference="check-in undone",
            corrects=transfer_id,
        )
    except Refused as short:
        raise Refused(
            _(
                "Cannot undo the check-in of {name}: the {amount} pre-event points were already "
                "spent."
            ).format(name=name, amount=original.amount),
            reason=short.reason,
        ) from short
    return int(original.amount)


def undo_last_check_in(store: Store, actor: Actor) -> UndoResult:
    """Take back this desk's last check-in, if it is recent enough.

    Within the event file's ``undo_minutes_desk`` (by the database clock): the band is returned
    (it can be bound again), the pre-event transfer is reversed by a correcting transfer, the
    pre-event rows wait again for the next bind, and the person is no longer checked in.
    Repeating it takes back the check-in before that, within the same window.
    """

    def work(conn: Connection, now: datetime) -> UndoResult:
        rules = _rules(conn)
        last = conn.execute(_LAST_OF_DESK, {"p_station": actor.station}).first()
        if last is None:
            raise Refused(
                _("Nothing to undo: desk {station} has no check-in to take back.").format(
                    station=actor.station
                ),
                reason="nothing_to_undo",
            )
        age = now - last.at
        if age > timedelta(minutes=rules.undo_minutes):
            raise Refused(
                _(
                    "The last check-in ({name}) was {minutes} minutes ago; undo is possible "
                    "for {limit}."
                ).format(
                    name=last.name, minutes=int(age.total_seconds() // 60), limit=rules.undo_minutes
                ),
                reason="undo_too_late",
            )
        reversed_points = 0
        if last.pre_event_transfer_id is not None:
            reversed_points = _reverse_pre_event(
                conn, actor, now, last.pre_event_transfer_id, last.name
            )
        if last.bind_op_id is not None:
            conn.execute(
                update(pending_t)
                .where(
                    pending_t.c.attendee_id == last.attendee_id,
                    pending_t.c.posted_op_id == last.bind_op_id,
                )
                .values(posted_op_id=None)
            )
        returned_uid: str | None = None
        if last.band_uid is not None:
            # The band the person wears now: the one bound here, or its replacement from the
            # wristband table since then.
            returned_uid = conn.execute(
                update(band_t)
                .where(
                    band_t.c.attendee_id == last.attendee_id,
                    band_t.c.state == "active",
                )
                .values(
                    state="returned",
                    state_reason="check-in undone",
                    state_at=now,
                    state_station=actor.station,
                    state_staff=actor.staff,
                )
                .returning(band_t.c.uid)
            ).scalar()
        undone = conn.execute(
            update(check_in_t)
            .where(check_in_t.c.id == last.id, check_in_t.c.undone_at.is_(None))
            .values(
                undone_at=now,
                undone_op_id=actor.op_id,
                undone_station=actor.station,
                undone_staff=actor.staff,
            )
        ).rowcount
        if undone != 1:
            raise Refused(
                _("That check-in was just undone at another station."), reason="nothing_to_undo"
            )
        conn.execute(
            update(attendee_t)
            .where(attendee_t.c.id == last.attendee_id)
            .values(checked_in_at=None, checked_in_station=None, checked_in_staff=None, colour=None)
        )
        store.audit(
            conn,
            actor,
            now,
            "check_in_undone",
            str(last.attendee_id),
            band=returned_uid,
            points=reversed_points,
            checked_in_at=last.at,
        )
        parts = [_("Check-in of {name} undone.").format(name=last.name)]
        if returned_uid is not None:
            parts.append(_("Band {uid} returned.").format(uid=returned_uid))
        if reversed_points:
            parts.append(
                _("{points} pre-event points wait for the next band.").format(
                    points=reversed_points
                )
            )
        return UndoResult(
            attendee_id=last.attendee_id,
            name=last.name,
            checked_in_at=last.at,
            band_uid=returned_uid,
            points_reversed=reversed_points,
            at=now,
            message=" ".join(parts),
        )

    return store.run(actor, "undo_check_in", work, UndoResult)


# -- walk-ins -----------------------------------------------------------------------------------


def known_fields(conn: Connection) -> dict[str, str]:
    """The attendee fields the event's colour groups list, plus "other" (folded → spelled).

    Empty when no event is loaded: then any field is accepted.
    """
    rules = _rules(conn)
    return rules.fields() if rules.colours else {}


def normalise_field(rules_fields: dict[str, str], field: str) -> str | None:
    """``field`` as the event spells it, or None if the event does not know it."""
    return rules_fields.get((field or OTHER_FIELD).strip().casefold() or OTHER_FIELD)


def _unused_code(conn: Connection) -> str:
    while True:
        code = new_code()
        if conn.execute(_ID_BY_CODE, {"p_code": code}).first() is None:
            return code


def register_walk_in(
    store: Store, actor: Actor, name: str, email: str, company: str, field: str
) -> AttendeeCard:
    """Register someone who is not on the list, with a new invitation code and an account.

    Refused for a missing name, a malformed e-mail or a field the event does not know; an
    e-mail already registered raises :class:`AlreadyRegistered` carrying that attendee's card,
    so the desk can open them instead.
    """
    clean_name = " ".join(name.split())
    clean_email = email.strip().casefold() or None
    clean_company = " ".join(company.split())

    def work(conn: Connection, now: datetime) -> AttendeeCard:
        rules = _rules(conn)
        if not clean_name:
            raise Refused(_("Type the person's name."), reason="name_missing")
        if clean_email is not None and not valid_email(clean_email):
            raise Refused(
                _("{email} is not an e-mail address.").format(email=email.strip()),
                reason="bad_email",
            )
        fields = rules.fields()
        spelled = normalise_field(fields, field) if rules.colours else (field.strip() or "other")
        if spelled is None:
            raise Refused(
                _("The field {field} is unknown: choose one of {fields}.").format(
                    field=field, fields=", ".join(sorted(fields.values()))
                ),
                reason="unknown_field",
            )
        if clean_email is not None:
            existing = conn.execute(_ID_BY_EMAIL, {"p_email": clean_email}).scalar()
            if existing is not None:
                raise AlreadyRegistered(int(existing), _card(conn, int(existing), rules.timezone))
        code = _unused_code(conn)
        attendee_id = int(
            conn.execute(
                insert(attendee_t).returning(attendee_t.c.id),
                {
                    "code": code,
                    "name": clean_name,
                    "email": clean_email,
                    "company": clean_company,
                    "field": spelled,
                    "tags": "",
                    "registered_via": WALK_IN,
                    "colour": None,
                    "active": True,
                    "created_at": now,
                },
            ).scalar_one()
        )
        conn.execute(
            insert(account_t),
            {"kind": "attendee", "attendee_id": attendee_id, "balance": 0, "floor": 0},
        )
        index_attendees(conn, [(attendee_id, clean_name, clean_email, clean_company, code)])
        store.audit(conn, actor, now, "walk_in", str(attendee_id), name=clean_name, code=code)
        return _card(conn, attendee_id, rules.timezone)

    return store.run(actor, "walk_in", work, AttendeeCard)


# -- bulk helpers for the demo and imports ----------------------------------------------------


def record_check_ins(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``check_in`` rows in bulk (the demo's people who arrive already checked in).

    Each dict has the :class:`~store.models.CheckIn` columns; missing optional ones are None.
    """
    if not rows:
        return
    columns = [c.name for c in check_in_t.columns if c.name != "id"]
    defaults: dict[str, Any] = dict.fromkeys(columns)
    defaults["pre_event_points"] = 0
    conn.execute(insert(check_in_t), [{**defaults, **row} for row in rows])
