"""The coat check: coats handed in and back by band, by name, by hanger or by paper tag.

Coats are keyed by the attendee, not by the band: a replaced band still finds its owner's coat.
Each writing function is one operation (:meth:`store.service.Store.run`). What two stations could
race on is decided by the database:

- a hanger is taken by an INSERT that the partial unique index ``uq_coat_held_hanger`` (one held
  coat per rack and hanger) may reject; the INSERT runs inside a SAVEPOINT and, when another
  station took that hanger a moment earlier, the next free one is tried, so two coats never
  share a hanger and the losing station still gets a hanger;
- ``uq_coat_held_attendee`` allows one held coat per person and ``uq_coat_held_paper_tag`` one
  held coat per paper tag;
- a hand-back is a guarded ``UPDATE coat ... WHERE state = 'in'``, so it happens once.

On PostgreSQL a band tap and a hand-back by band first try one statement (data-modifying CTEs,
plus a small UPDATE saving the result): the same guards, rows and result as the step-by-step
path. Anything unusual — a refusal, an instalment due, full racks, a retried operation, a lost
hanger race on the unique index — rolls it back and takes the step path.

Racks come from the event file (in file order: ``position``); a failed rack is marked out of
service, its coats stay where they are (findable by band, name or hanger) and new coats go to the
next rack. Paper mode (when the reader, the laptop or the racks fail) takes coats by paper tag;
:func:`reconcile` moves them onto hangers or closes them afterwards.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnClause

from store import codec, credit
from store.context import Actor
from store.desk import _timezone, find_by_code, local_time
from store.driver import SAVE_RESULT, DriverConnection, actor_params
from store.errors import DomainError, NotFound, Refused
from store.i18n import _
from store.invites import normalise_code, parse_scan
from store.models import Attendee, Band, Coat, Rack
from store.points import require_active_band
from store.search import search_attendees
from store.service import Fallback, Store
from store.types import UTCDateTime

__all__ = [
    "CoatPerson",
    "CoatTicket",
    "Occupancy",
    "RackOccupancy",
    "RackState",
    "ReconcileLine",
    "ReconcileReport",
    "ReconcileRow",
    "coat_in_for",
    "coat_out",
    "coat_tap",
    "find_coats",
    "held_coat",
    "occupancy",
    "paper_in",
    "parse_hanger",
    "people_without_coat",
    "rack_back_in_service",
    "rack_out_of_service",
    "rack_short_name",
    "read_reconcile_csv",
    "reconcile",
    "reconcile_file",
    "reconcile_row",
    "record_paper_mode",
    "verify_coats",
    "whose_band",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
coat_t: Table = Coat.__table__  # type: ignore[attr-defined]
rack_t: Table = Rack.__table__  # type: ignore[attr-defined]

#: A rack this full (in percent) is shown with a warning.
WARN_PERCENT = 90
#: How many hangers one coat-in tries when other stations keep taking the one it chose.
HANGER_ATTEMPTS = 50
#: Paper tags are short: a number or a few letters written on a paper ticket.
_PAPER_TAG = re.compile(r"^[0-9A-Za-z-]{1,32}$")
_HANGER_TEXT = re.compile(r"^\s*(.*?)[\s\-:#·/.]*(\d{1,6})\s*$")


# -- results --------------------------------------------------------------------------------


def rack_short_name(name: str) -> str:
    """A rack's name without the word "rack" ("Rack A" → "A"), for the huge hanger label."""
    words = name.split()
    if len(words) > 1 and words[0].casefold() in ("rack", "вешалка", "стойка"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True, slots=True)
class CoatTicket:
    """One coat: whose it is and where it hangs (or which paper tag it has)."""

    coat_id: int
    attendee_id: int
    name: str
    code: str
    state: str
    """"in" (held) or "collected"."""
    rack_id: str | None
    rack_name: str | None
    hanger: int | None
    paper_tag: str | None
    in_at: datetime
    in_local: str
    in_station: str
    out_at: datetime | None
    out_local: str | None
    out_station: str | None
    out_staff: str | None
    out_id_checked: bool
    rack_out_of_service: bool
    """The coat hangs on a rack marked out of service (it is still there)."""
    action: str = "found"
    """What the operation did: "in" (a hanger assigned now), "held" (the person already had a
    coat in), "paper_in", "out", or "found" (a search)."""
    note: str = ""
    """A line for staff, e.g. that a full rack handed over to the next."""
    credit_note: str = ""
    """Pay in four: "Paused: overdue instalment …" when the holder is paused ("" usually)."""

    @property
    def label(self) -> str:
        """Where the coat is, for people: "Rack A · 17", "paper tag 17" or both."""
        parts = []
        if self.hanger is not None:
            parts.append(f"{self.rack_name or self.rack_id} · {self.hanger}")
        if self.paper_tag is not None:
            parts.append(_("paper tag {tag}").format(tag=self.paper_tag))
        return " / ".join(parts)

    @property
    def big(self) -> str:
        """What the screen shows huge: the rack's short name and the hanger number ("A-17"), or
        the paper tag ("P-17")."""
        if self.hanger is not None:
            return f"{rack_short_name(self.rack_name or self.rack_id or '')}-{self.hanger}"
        return f"P-{self.paper_tag}" if self.paper_tag else ""


@dataclass(frozen=True, slots=True)
class RackOccupancy:
    """How full one rack is."""

    rack_id: str
    name: str
    capacity: int
    held: int
    position: int
    active: bool
    """False when the rack is no longer in the event file (its coats are still findable)."""
    out_of_service: bool
    out_of_service_reason: str
    out_of_service_local: str | None

    @property
    def percent(self) -> int:
        """Held coats as a percentage of the hangers."""
        return self.held * 100 // self.capacity if self.capacity else 100

    @property
    def warn(self) -> bool:
        """At or above :data:`WARN_PERCENT`."""
        return self.held * 100 >= WARN_PERCENT * self.capacity

    @property
    def full(self) -> bool:
        """No free hanger left."""
        return self.held >= self.capacity

    @property
    def usable(self) -> bool:
        """New coats may go here."""
        return self.active and not self.out_of_service


@dataclass(frozen=True, slots=True)
class Occupancy:
    """Every rack, the paper-tag coats held, and the rack new coats go to now."""

    racks: tuple[RackOccupancy, ...]
    paper_held: int
    """Coats held by paper tag only (not yet on a hanger)."""
    filling: str | None
    """The id of the rack the next coat goes to; None when no rack has room."""


@dataclass(frozen=True, slots=True)
class RackState:
    """A rack after it was marked out of service or back in service."""

    rack_id: str
    name: str
    out_of_service: bool
    reason: str
    held: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One line of a reconciliation file: a paper tag, whose it is, and where it went."""

    line: int
    paper_tag: str
    who: str
    """The attendee's invitation code or e-mail."""
    target: str
    """A hanger ("Rack A 17", "A-17") or "collected"."""


@dataclass(frozen=True, slots=True)
class ReconcileLine:
    """What one reconciliation row did."""

    line: int
    paper_tag: str
    outcome: str
    """"moved", "collected", "already" (nothing to do: done before) or "error"."""
    message: str


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What a reconciliation file did, row by row."""

    lines: tuple[ReconcileLine, ...]

    def count(self, outcome: str) -> int:
        """How many rows ended with ``outcome``."""
        return sum(1 for line in self.lines if line.outcome == outcome)

    def summary(self) -> str:
        """One line for the end of the report."""
        return _(
            "{moved} moved onto hangers, {collected} closed as collected, {already} already "
            "done, {errors} not applied."
        ).format(
            moved=self.count("moved"),
            collected=self.count("collected"),
            already=self.count("already"),
            errors=self.count("error"),
        )


# -- reading coats ----------------------------------------------------------------------------

_TICKET = select(
    coat_t.c.id,
    coat_t.c.attendee_id,
    coat_t.c.state,
    coat_t.c.rack_id,
    coat_t.c.hanger,
    coat_t.c.paper_tag,
    coat_t.c.in_at,
    coat_t.c.in_station,
    coat_t.c.out_at,
    coat_t.c.out_station,
    coat_t.c.out_staff,
    coat_t.c.out_id_checked,
    attendee_t.c.name,
    attendee_t.c.code,
    rack_t.c.name.label("rack_name"),
    rack_t.c.out_of_service_at,
).select_from(
    coat_t.join(attendee_t, attendee_t.c.id == coat_t.c.attendee_id).outerjoin(
        rack_t, rack_t.c.id == coat_t.c.rack_id
    )
)
_HELD_BY = _TICKET.where(coat_t.c.attendee_id == bindparam("p_attendee"), coat_t.c.state == "in")


def _ticket(row: Any, timezone: str, action: str = "found", note: str = "") -> CoatTicket:
    return CoatTicket(
        coat_id=int(row.id),
        attendee_id=int(row.attendee_id),
        name=row.name,
        code=row.code,
        state=row.state,
        rack_id=row.rack_id,
        rack_name=row.rack_name,
        hanger=row.hanger,
        paper_tag=row.paper_tag,
        in_at=row.in_at,
        in_local=local_time(row.in_at, timezone),
        in_station=row.in_station,
        out_at=row.out_at,
        out_local=local_time(row.out_at, timezone) if row.out_at is not None else None,
        out_station=row.out_station,
        out_staff=row.out_staff,
        out_id_checked=bool(row.out_id_checked),
        rack_out_of_service=row.out_of_service_at is not None,
        action=action,
        note=note,
    )


def _coat_by_id(conn: Connection, coat_id: int, timezone: str, action: str = "found") -> CoatTicket:
    row = conn.execute(_TICKET.where(coat_t.c.id == coat_id)).first()
    if row is None:
        raise NotFound(_("There is no coat {id}.").format(id=coat_id))
    return _ticket(row, timezone, action)


def held_coat(store: Store, attendee_id: int) -> CoatTicket | None:
    """The coat ``attendee_id`` has in now, or None."""
    with store.db.read() as conn:
        row = conn.execute(_HELD_BY, {"p_attendee": attendee_id}).first()
        return _ticket(row, _timezone(conn)) if row is not None else None


def _held_or_last(conn: Connection, attendee_ids: Sequence[int], timezone: str) -> list[CoatTicket]:
    """For each person: the coat held now, else their last collected one (none: left out)."""
    if not attendee_ids:
        return []
    rows = conn.execute(
        _TICKET.where(coat_t.c.attendee_id.in_(list(attendee_ids))).order_by(
            coat_t.c.attendee_id, coat_t.c.in_at.desc(), coat_t.c.id.desc()
        )
    ).all()
    best: dict[int, Any] = {}
    for row in rows:
        current = best.get(row.attendee_id)
        if current is None or (current.state != "in" and row.state == "in"):
            best[row.attendee_id] = row
    return [_ticket(best[a], timezone) for a in attendee_ids if a in best]


def _norm(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _rack_keys(rack_id: str, name: str) -> set[str]:
    keys = {_norm(rack_id), _norm(name)}
    for key in list(keys):
        for word in ("rack", "вешалка", "стойка"):
            if key.startswith(word) and len(key) > len(word):
                keys.add(key[len(word) :])
    return {k for k in keys if k}


def parse_hanger(conn: Connection, text: str) -> tuple[str, int] | None:
    """The rack id and hanger number a text like "A-17", "Rack A 17" or "rack-a:17" names.

    The rack is matched by its id or its name (with or without the word "rack"); None when the
    text names no rack (a plain number is a paper tag, not a hanger).
    """
    found = _HANGER_TEXT.match(text)
    if found is None or not found.group(1).strip():
        return None
    wanted = _norm(found.group(1))
    for row in conn.execute(select(rack_t.c.id, rack_t.c.name).order_by(rack_t.c.position)):
        if wanted in _rack_keys(row.id, row.name):
            return row.id, int(found.group(2))
    return None


def find_coats(store: Store, text: str, limit: int = 10) -> tuple[CoatTicket, ...]:
    """Coats found by what staff typed: a hanger ("A-17"), a paper tag, an invitation code (or
    a scanned ``TD:`` QR), a band UID, or a name / e-mail / company.

    For a person the coat held now is listed, else their last collected coat (so staff see when
    it went). Held coats come first.
    """
    query = text.strip()
    if not query:
        return ()
    found: list[CoatTicket] = []
    with store.db.read() as conn:
        timezone = _timezone(conn)
        hanger = parse_hanger(conn, query)
        if hanger is not None:
            rows = conn.execute(
                _TICKET.where(
                    coat_t.c.rack_id == hanger[0],
                    coat_t.c.hanger == hanger[1],
                    coat_t.c.state == "in",
                )
            ).all()
            if rows:
                return tuple(_ticket(r, timezone) for r in rows)
            # An empty hanger: the text may be a paper tag with letters ("B7") instead.
        if _PAPER_TAG.match(query) and any(ch.isdigit() for ch in query):
            rows = conn.execute(
                _TICKET.where(coat_t.c.paper_tag == query.upper(), coat_t.c.state == "in")
            ).all()
            found.extend(_ticket(r, timezone) for r in rows)
        uid = query.upper()
        if re.fullmatch(r"[0-9A-F]{8,20}", uid):
            owner = conn.execute(select(band_t.c.attendee_id).where(band_t.c.uid == uid)).scalar()
            if owner is not None:
                found.extend(_held_or_last(conn, [int(owner)], timezone))
    if found:
        return tuple(found[:limit])
    if parse_scan(query) or normalise_code(query):
        card = find_by_code(store, query)
        if card is not None:
            with store.db.read() as conn:
                return tuple(_held_or_last(conn, [card.attendee_id], timezone))
    hits = search_attendees(store, query, limit=limit)
    with store.db.read() as conn:
        tickets = _held_or_last(conn, [h.attendee_id for h in hits], timezone)
    tickets.sort(key=lambda t: t.state != "in")
    return tuple(tickets[:limit])


# -- racks ------------------------------------------------------------------------------------

_HELD_PER_RACK = (
    select(coat_t.c.rack_id, func.count().label("held"))
    .where(coat_t.c.state == "in", coat_t.c.hanger.is_not(None))
    .group_by(coat_t.c.rack_id)
)
_RACKS = select(
    rack_t.c.id,
    rack_t.c.name,
    rack_t.c.capacity,
    rack_t.c.position,
    rack_t.c.active,
    rack_t.c.out_of_service_at,
    rack_t.c.out_of_service_reason,
).order_by(rack_t.c.position, rack_t.c.id)


def _occupancy(conn: Connection, timezone: str) -> Occupancy:
    held = {r.rack_id: int(r.held) for r in conn.execute(_HELD_PER_RACK)}
    racks = tuple(
        RackOccupancy(
            rack_id=r.id,
            name=r.name,
            capacity=int(r.capacity),
            held=held.get(r.id, 0),
            position=int(r.position),
            active=bool(r.active),
            out_of_service=r.out_of_service_at is not None,
            out_of_service_reason=r.out_of_service_reason or "",
            out_of_service_local=(
                local_time(r.out_of_service_at, timezone) if r.out_of_service_at else None
            ),
        )
        for r in conn.execute(_RACKS)
        # A rack gone from the event file is listed only while it still holds coats.
        if r.active or held.get(r.id, 0)
    )
    paper = conn.execute(
        select(func.count()).where(coat_t.c.state == "in", coat_t.c.hanger.is_(None))
    ).scalar_one()
    filling = next((r.rack_id for r in racks if r.usable and not r.full), None)
    return Occupancy(racks=racks, paper_held=int(paper), filling=filling)


def occupancy(store: Store) -> Occupancy:
    """How full every rack is (a rack at 90 % or more is flagged), and the paper-tag coats."""
    with store.db.read() as conn:
        return _occupancy(conn, _timezone(conn))


def _rack_row(conn: Connection, rack: str) -> Any:
    """The rack named by id, name or a short form ("A"), or NotFound listing the racks."""
    rows = conn.execute(_RACKS).all()
    wanted = _norm(rack)
    for row in rows:
        if row.id == rack or wanted in _rack_keys(row.id, row.name):
            return row
    raise NotFound(
        _("There is no rack {rack}. Racks: {racks}.").format(
            rack=rack, racks=", ".join(f"{r.id} ({r.name})" for r in rows) or "—"
        )
    )


def _set_service(store: Store, actor: Actor, rack: str, reason: str, out: bool) -> RackState:
    why = reason.strip()[:200]

    def work(conn: Connection, now: datetime) -> RackState:
        row = _rack_row(conn, rack)
        if not why:
            raise Refused(_("Say why, then try again."), reason="no_reason")
        if out and row.out_of_service_at is not None:
            raise Refused(
                _("{rack} is already out of service since {time}: {reason}").format(
                    rack=row.name,
                    time=local_time(row.out_of_service_at, _timezone(conn)),
                    reason=row.out_of_service_reason or "—",
                ),
                reason="already_out",
            )
        if not out and row.out_of_service_at is None:
            raise Refused(
                _("{rack} is already in service.").format(rack=row.name), reason="already_in"
            )
        changed = conn.execute(
            update(rack_t)
            .where(
                rack_t.c.id == row.id,
                rack_t.c.out_of_service_at.is_(None)
                if out
                else rack_t.c.out_of_service_at.is_not(None),
            )
            .values(
                out_of_service_at=now if out else None,
                out_of_service_reason=why if out else "",
            )
        ).rowcount
        if changed != 1:
            raise Refused(
                _("{rack} was changed at another station a moment ago: look again.").format(
                    rack=row.name
                ),
                reason="rack_state",
            )
        held = conn.execute(
            select(func.count()).where(coat_t.c.rack_id == row.id, coat_t.c.state == "in")
        ).scalar_one()
        store.audit(
            conn,
            actor,
            now,
            "rack_out_of_service" if out else "rack_in_service",
            row.id,
            reason=why,
            coats_held=int(held),
        )
        return RackState(
            rack_id=row.id,
            name=row.name,
            out_of_service=out,
            reason=why,
            held=int(held),
            at=now,
        )

    return store.run(actor, "rack_out" if out else "rack_in", work, RackState)


def rack_out_of_service(store: Store, actor: Actor, rack: str, reason: str) -> RackState:
    """Mark ``rack`` (id, name or short form) out of service: no new coats go there; its coats
    stay where they are and are still found by band, name or hanger. Audited with the reason."""
    return _set_service(store, actor, rack, reason, out=True)


def rack_back_in_service(store: Store, actor: Actor, rack: str, reason: str) -> RackState:
    """Put ``rack`` back in service (audited with the reason)."""
    return _set_service(store, actor, rack, reason, out=False)


# -- coat in ----------------------------------------------------------------------------------

_HELD_HANGERS = (
    select(coat_t.c.hanger)
    .where(
        coat_t.c.rack_id == bindparam("p_rack"),
        coat_t.c.state == "in",
        coat_t.c.hanger.is_not(None),
    )
    .order_by(coat_t.c.hanger)
)
_IN_SERVICE = (
    select(rack_t.c.id, rack_t.c.name, rack_t.c.capacity)
    .where(rack_t.c.active.is_(True), rack_t.c.out_of_service_at.is_(None))
    .order_by(rack_t.c.position, rack_t.c.id)
)
_INSERT_COAT = insert(coat_t).returning(coat_t.c.id)


def _lowest_free(held: Iterable[int], capacity: int, skip: set[int]) -> int | None:
    taken = set(held) | skip
    for number in range(1, capacity + 1):
        if number not in taken:
            return number
    return None


def _held_refusal(conn: Connection, attendee_id: int, timezone: str) -> CoatTicket | None:
    row = conn.execute(_HELD_BY, {"p_attendee": attendee_id}).first()
    return _ticket(row, timezone, "held") if row is not None else None


def _assign_hanger(
    store: Store, conn: Connection, actor: Actor, now: datetime, attendee_id: int, timezone: str
) -> CoatTicket:
    """Insert a held coat on the lowest free hanger of the first rack (by position) with room.

    The unique index is the guard: when another station took the chosen hanger between the read
    and the INSERT, the SAVEPOINT is rolled back and the next free hanger is tried.
    """
    racks = conn.execute(_IN_SERVICE).all()
    if not racks:
        raise Refused(
            _(
                "No coat rack is in service: switch to paper tags (ctrl+n), or put a rack back "
                "in service."
            ),
            reason="no_rack",
        )
    skipped: dict[str, set[int]] = {}
    for _attempt in range(HANGER_ATTEMPTS):
        chosen: tuple[Any, int] | None = None
        full: list[str] = []
        # Counts first (one indexed aggregate): only the first rack with room is read hanger by
        # hanger, not every full rack before it.
        counts = {r.rack_id: int(r.held) for r in conn.execute(_HELD_PER_RACK)}
        for rack in racks:
            if counts.get(rack.id, 0) >= rack.capacity:
                full.append(rack.name)
                continue
            held = conn.execute(_HELD_HANGERS, {"p_rack": rack.id}).scalars().all()
            number = _lowest_free(held, int(rack.capacity), skipped.get(rack.id, set()))
            if number is not None:
                chosen = (rack, number)
                break
            full.append(rack.name)
        if chosen is None:
            raise Refused(
                _(
                    "Every rack in service is full: switch to paper tags (ctrl+n) or bring "
                    "another rack."
                ),
                reason="racks_full",
            )
        rack, number = chosen
        try:
            with conn.begin_nested():
                coat_id = conn.execute(
                    _INSERT_COAT,
                    {
                        "op_id": actor.op_id,
                        "attendee_id": attendee_id,
                        "rack_id": rack.id,
                        "hanger": number,
                        "paper_tag": None,
                        "state": "in",
                        "in_at": now,
                        "in_station": actor.station,
                        "in_staff": actor.staff,
                        "out_id_checked": False,
                    },
                ).scalar_one()
        except IntegrityError:
            # Another station's coat took this hanger (or this person's coat) a moment ago.
            already = _held_refusal(conn, attendee_id, timezone)
            if already is not None:
                return already
            skipped.setdefault(rack.id, set()).add(number)
            continue
        store.audit(conn, actor, now, "coat_in", f"{rack.id}:{number}", attendee_id=attendee_id)
        note = ""
        if full:
            note = _("{racks} full: this coat goes on {rack}.").format(
                racks=", ".join(full), rack=rack.name
            )
        return replace(_coat_by_id(conn, int(coat_id), timezone, "in"), note=note)
    raise Refused(
        _("Other stations keep taking the free hangers: tap again."), reason="hanger_race"
    )


@dataclass(frozen=True, slots=True)
class CoatPerson:
    """Whose band was tapped (paper mode), with the coat they have in, if any."""

    attendee_id: int
    name: str
    code: str
    coat: CoatTicket | None


def whose_band(store: Store, uid: str) -> CoatPerson:
    """The holder of band ``uid`` and their coat, without assigning a hanger (paper mode).

    A blocked, lost or unbound band is refused with its state, as everywhere.
    """
    band_uid = uid.strip().upper()
    with store.db.read() as conn:
        holder = require_active_band(conn, band_uid)
        code = conn.execute(
            select(attendee_t.c.code).where(attendee_t.c.id == holder.attendee_id)
        ).scalar_one()
        row = conn.execute(_HELD_BY, {"p_attendee": holder.attendee_id}).first()
        coat = _ticket(row, _timezone(conn)) if row is not None else None
    return CoatPerson(holder.attendee_id, holder.name, code, coat)


def people_without_coat(store: Store, text: str, limit: int = 10) -> tuple[CoatPerson, ...]:
    """People the search finds for ``text`` who have no coat in (to take one in by name)."""
    hits = search_attendees(store, text, limit=limit)
    if not hits:
        return ()
    with store.db.read() as conn:
        holding = set(
            conn.execute(
                select(coat_t.c.attendee_id).where(
                    coat_t.c.attendee_id.in_([h.attendee_id for h in hits]),
                    coat_t.c.state == "in",
                )
            ).scalars()
        )
    return tuple(
        CoatPerson(h.attendee_id, h.name, h.code, None)
        for h in hits
        if h.attendee_id not in holding
    )


def coat_tap(store: Store, actor: Actor, uid: str) -> CoatTicket:
    """A band tapped at the coat check: the coat its holder has in, or a new one on the next
    free hanger.

    The band must be active (a blocked or lost band is refused with its state; a person who
    lost their band is found by name or invitation instead). Returns the ticket with
    ``action`` "held" (they already have a coat in: show its hanger, hand it back with a key)
    or "in" (a hanger was assigned now).
    """
    band_uid = uid.strip().upper()
    if store.one_statement:
        fast = _tap_in_one_statement(store, actor, band_uid)
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> CoatTicket:
        holder = require_active_band(conn, band_uid)
        timezone = _timezone(conn)
        paused = ""
        if holder.next_due_at is not None and holder.next_due_at <= now:
            # A tap is an operation on the person's account: it collects what is due (pay in
            # four), and a coat is still taken from a paused person — only prizes stop.
            credit.collect_due(conn, actor, now, holder.attendee_id, next_due_at=holder.next_due_at)
            overdue = credit.overdue_points(conn, holder.attendee_id)
            paused = credit.paused_text(overdue) if overdue else ""
        already = _held_refusal(conn, holder.attendee_id, timezone)
        if already is None:
            already = _assign_hanger(store, conn, actor, now, holder.attendee_id, timezone)
        return replace(already, credit_note=paused) if paused else already

    return store.run(actor, "coat_tap", work, CoatTicket)


def coat_in_for(store: Store, actor: Actor, attendee_id: int) -> CoatTicket:
    """A coat handed in by a person found by name or invitation (no band at hand)."""

    def work(conn: Connection, now: datetime) -> CoatTicket:
        timezone = _timezone(conn)
        if (
            conn.execute(select(attendee_t.c.id).where(attendee_t.c.id == attendee_id)).first()
            is None
        ):
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        already = _held_refusal(conn, attendee_id, timezone)
        if already is not None:
            return already
        return _assign_hanger(store, conn, actor, now, attendee_id, timezone)

    return store.run(actor, "coat_in", work, CoatTicket)


def _clean_tag(tag: str) -> str:
    cleaned = tag.strip().upper()
    if not _PAPER_TAG.match(cleaned):
        raise Refused(
            _("“{tag}” is not a paper tag number: type the number written on the tag.").format(
                tag=tag.strip()
            ),
            reason="bad_paper_tag",
        )
    return cleaned


def paper_in(store: Store, actor: Actor, attendee_id: int, paper_tag: str) -> CoatTicket:
    """Paper mode: a coat handed in under ``paper_tag`` for ``attendee_id`` (no hanger yet).

    Refused when the person already has a coat in (it is shown instead) or the tag is on
    another coat still held.
    """

    def work(conn: Connection, now: datetime) -> CoatTicket:
        tag = _clean_tag(paper_tag)
        timezone = _timezone(conn)
        name = conn.execute(
            select(attendee_t.c.name).where(attendee_t.c.id == attendee_id)
        ).scalar()
        if name is None:
            raise NotFound(_("There is no attendee {id}.").format(id=attendee_id))
        already = _held_refusal(conn, attendee_id, timezone)
        if already is not None:
            return already
        other = conn.execute(
            _TICKET.where(coat_t.c.paper_tag == tag, coat_t.c.state == "in")
        ).first()
        if other is not None:
            raise Refused(
                _("Paper tag {tag} is already on {name}'s coat: use another tag.").format(
                    tag=tag, name=other.name
                ),
                reason="paper_tag_taken",
            )
        coat_id = conn.execute(
            _INSERT_COAT,
            {
                "op_id": actor.op_id,
                "attendee_id": attendee_id,
                "rack_id": None,
                "hanger": None,
                "paper_tag": tag,
                "state": "in",
                "in_at": now,
                "in_station": actor.station,
                "in_staff": actor.staff,
                "out_id_checked": False,
            },
        ).scalar_one()
        store.audit(conn, actor, now, "coat_paper_in", tag, attendee_id=attendee_id)
        return _coat_by_id(conn, int(coat_id), timezone, "paper_in")

    return store.run(actor, "coat_paper_in", work, CoatTicket)


# -- coat out ---------------------------------------------------------------------------------


def coat_out(
    store: Store,
    actor: Actor,
    coat_id: int,
    *,
    band_uid: str | None = None,
    paper_tag: str | None = None,
    id_checked: bool = False,
) -> CoatTicket:
    """Hand coat ``coat_id`` back and free its hanger (or paper tag).

    The person proves it is their coat in one of three ways: the band they tapped
    (``band_uid``, active and theirs), the paper tag they hold (``paper_tag``), or an ID check
    by the staff member (``id_checked=True``, for a lost band: recorded in the audit log with who
    checked). Refused without one, and when the coat was already handed back (saying when).
    """
    if store.one_statement and band_uid is not None and not id_checked:
        fast = _out_in_one_statement(store, actor, coat_id, band_uid.strip().upper())
        if fast is not None:
            return fast

    def work(conn: Connection, now: datetime) -> CoatTicket:
        timezone = _timezone(conn)
        coat = _coat_by_id(conn, coat_id, timezone)
        if coat.state != "in":
            raise Refused(
                _("{name}'s coat was already handed back at {time} ({station}).").format(
                    name=coat.name, time=coat.out_local or "?", station=coat.out_station or "?"
                ),
                reason="already_collected",
            )
        proof = "id_check" if id_checked else ""
        if band_uid is not None:
            holder = require_active_band(conn, band_uid.strip().upper())
            if holder.attendee_id != coat.attendee_id:
                raise Refused(
                    _("This band is {other}'s, not {name}'s: this is not their coat.").format(
                        other=holder.name, name=coat.name
                    ),
                    reason="wrong_band",
                )
            proof = proof or "band"
        elif paper_tag is not None:
            if coat.paper_tag is None or coat.paper_tag != paper_tag.strip().upper():
                raise Refused(
                    _("Paper tag {tag} is not on this coat: check the tag.").format(
                        tag=paper_tag.strip()
                    ),
                    reason="wrong_paper_tag",
                )
            proof = proof or "paper_tag"
        if not proof:
            raise Refused(
                _("No band tapped: check {name}'s ID, then confirm the ID check.").format(
                    name=coat.name
                ),
                reason="id_check_needed",
            )
        changed = conn.execute(
            update(coat_t)
            .where(coat_t.c.id == coat_id, coat_t.c.state == "in")
            .values(
                state="collected",
                out_at=now,
                out_op_id=actor.op_id,
                out_station=actor.station,
                out_staff=actor.staff,
                out_id_checked=id_checked,
            )
        ).rowcount
        if changed != 1:
            raise Refused(
                _("{name}'s coat was handed back at another station a moment ago.").format(
                    name=coat.name
                ),
                reason="already_collected",
            )
        store.audit(
            conn,
            actor,
            now,
            "coat_out_id_checked" if id_checked else "coat_out",
            coat.label,
            attendee_id=coat.attendee_id,
            coat_id=coat_id,
            proof=proof,
            checked_by=actor.staff if id_checked else None,
        )
        return _coat_by_id(conn, coat_id, timezone, "out")

    return store.run(actor, "coat_out", work, CoatTicket)


# -- the hot paths in one statement (PostgreSQL) -------------------------------------------------

#: The columns :func:`_ticket` reads, in the order the one-statement paths return them.
_TICKET_COLUMNS = (
    "id",
    "attendee_id",
    "name",
    "code",
    "state",
    "rack_id",
    "hanger",
    "paper_tag",
    "in_at",
    "in_station",
    "out_at",
    "out_station",
    "out_staff",
    "out_id_checked",
    "rack_name",
    "out_of_service_at",
)
_TIMES = frozenset({"in_at", "out_at", "out_of_service_at"})


def _fast_columns(*names: str) -> list[ColumnClause[Any]]:
    """A text statement's result columns by position: times come back in UTC as in the step
    path, and the result's layout is cached with the statement (no matching by name per call)."""
    return [column(name, UTCDateTime()) if name in _TIMES else column(name) for name in names]


#: A band tap at the coat check as ONE statement (data-modifying CTEs), for the hot path on
#: PostgreSQL: the holder of an active band with no pay-in-four instalment due; the coat they
#: have in ("held"), or else a new coat on the lowest free hanger of the first in-service rack
#: (by position, id) with room, with its ``coat_in`` audit row; the operation row (its result is
#: saved by a second small UPDATE: the ticket's times and note are formatted in Python); the
#: station's change counter. When nothing comes back the caller rolls everything back and takes
#: the step-by-step path, which explains the refusal (and records it), replays a retried
#: operation or collects a due instalment: the band is not an active holder's, an instalment is
#: due, no rack has room, or the operation id was used before. The hanger is guarded by the
#: partial unique index ``uq_coat_held_hanger`` (the person by ``uq_coat_held_attendee``): a
#: station that loses a race gets an IntegrityError, falls back, and the step path tries the
#: next free hanger. The rack counts are read in the statement's snapshot, as the step path reads
#: them before its INSERT: the unique index, not the count, is the guard.
_TAP_CTE = text(
    """
    WITH holder AS (
        SELECT a.id AS attendee_id, a.name, a.code
        FROM band b
        JOIN attendee a ON a.id = b.attendee_id
        LEFT JOIN account c ON c.attendee_id = a.id
        WHERE b.uid = :uid AND b.state = 'active'
          -- a pay-in-four instalment due: the step path collects it (and notes a pause)
          AND (c.next_due_at IS NULL OR c.next_due_at > now())
    ), op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        SELECT :op_id, 'coat_tap', :station, :staff, :correlation_id, now(), '' FROM holder
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), held AS (
        SELECT k.id, k.state, k.rack_id, k.hanger, k.paper_tag, k.in_at, k.in_station,
               k.out_at, k.out_station, k.out_staff, k.out_id_checked
        FROM coat k JOIN holder h ON k.attendee_id = h.attendee_id
        WHERE k.state = 'in'
    ), usable AS (
        SELECT r.id, r.name, r.capacity, r.position,
               (SELECT count(*) FROM coat k
                WHERE k.rack_id = r.id AND k.state = 'in' AND k.hanger IS NOT NULL) AS held
        FROM rack r
        WHERE r.active AND r.out_of_service_at IS NULL
          AND EXISTS (SELECT 1 FROM op) AND NOT EXISTS (SELECT 1 FROM held)
    ), room AS (
        SELECT u.id, u.name, u.capacity, u.position FROM usable u
        WHERE u.held < u.capacity
        ORDER BY u.position, u.id
        LIMIT 1
    ), free AS (
        SELECT min(g) AS hanger
        FROM generate_series(1, (SELECT capacity FROM room)) AS g
        WHERE g NOT IN (
            SELECT k.hanger FROM coat k
            WHERE k.rack_id = (SELECT id FROM room) AND k.state = 'in' AND k.hanger IS NOT NULL
        )
    ), ins AS (
        INSERT INTO coat (op_id, attendee_id, rack_id, hanger, paper_tag, state, in_at,
                          in_station, in_staff, out_id_checked)
        SELECT :op_id, h.attendee_id, room.id, f.hanger, NULL, 'in', op.created_at, :station,
               :staff, false
        FROM holder h, room, free f, op
        WHERE f.hanger IS NOT NULL
        RETURNING id, attendee_id, state, rack_id, hanger, paper_tag, in_at, in_station,
                  out_at, out_station, out_staff, out_id_checked
    ), aud AS (
        INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail)
        SELECT i.in_at, :station, :staff, :correlation_id, 'coat_in',
               i.rack_id || ':' || i.hanger, '{"attendee_id": ' || i.attendee_id || '}'
        FROM ins i
    ), shown AS (
        SELECT 'held' AS action, k.id, k.state, k.rack_id, k.hanger, k.paper_tag, k.in_at,
               k.in_station, k.out_at, k.out_station, k.out_staff, k.out_id_checked,
               NULL::text[] AS full_racks
        FROM held k
        UNION ALL
        SELECT 'in', i.id, i.state, i.rack_id, i.hanger, i.paper_tag, i.in_at, i.in_station,
               i.out_at, i.out_station, i.out_staff, i.out_id_checked,
               -- the racks in service before the chosen one: all full (the note on the ticket)
               (SELECT array_agg(u.name::text ORDER BY u.position, u.id) FROM usable u, room
                WHERE (u.position, u.id) < (room.position, room.id))
        FROM ins i
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM op) AND EXISTS (SELECT 1 FROM shown)
    )
    SELECT s.action, s.id, h.attendee_id, h.name, h.code, s.state, s.rack_id, s.hanger,
           s.paper_tag, s.in_at, s.in_station, s.out_at, s.out_station, s.out_staff,
           s.out_id_checked, r.name AS rack_name, r.out_of_service_at, s.full_racks,
           COALESCE((SELECT e.timezone FROM event e ORDER BY e.id LIMIT 1), 'UTC') AS timezone
    FROM shown s CROSS JOIN holder h CROSS JOIN op LEFT JOIN rack r ON r.id = s.rack_id
    """
).columns(*_fast_columns("action", *_TICKET_COLUMNS, "full_racks", "timezone"))

#: A coat handed back by its holder's band as ONE statement (PostgreSQL): the operation row, the
#: guarded ``UPDATE coat ... WHERE state = 'in'`` for the band's active holder only, and the
#: station's change counter. Nothing comes back for a wrong band, a blocked or lost one, a coat
#: already handed back or a retried operation id: the caller falls back to the step path, which
#: explains (and records) the refusal or replays the first result. The audit row (its subject is
#: the coat's label, in words) is written with the saved result by :data:`_SAVE_WITH_AUDIT`.
_OUT_CTE = text(
    """
    WITH holder AS (
        SELECT a.id AS attendee_id, a.name, a.code
        FROM band b JOIN attendee a ON a.id = b.attendee_id
        WHERE b.uid = :uid AND b.state = 'active'
    ), op AS (
        INSERT INTO operation (op_id, kind, station, staff, correlation_id, created_at, result)
        SELECT :op_id, 'coat_out', :station, :staff, :correlation_id, now(), '' FROM holder
        ON CONFLICT DO NOTHING
        RETURNING created_at
    ), gone AS (
        UPDATE coat k
        SET state = 'collected', out_at = op.created_at, out_op_id = :op_id,
            out_station = :station, out_staff = :staff, out_id_checked = false
        FROM holder h, op
        WHERE k.id = :coat_id AND k.state = 'in' AND k.attendee_id = h.attendee_id
        RETURNING k.id, k.attendee_id, k.state, k.rack_id, k.hanger, k.paper_tag, k.in_at,
                  k.in_station, k.out_at, k.out_station, k.out_staff, k.out_id_checked
    ), advanced AS (
        UPDATE station SET change_seq = change_seq + 1
        WHERE name = :station AND EXISTS (SELECT 1 FROM gone)
    )
    SELECT o.id, o.attendee_id, h.name, h.code, o.state, o.rack_id, o.hanger, o.paper_tag,
           o.in_at, o.in_station, o.out_at, o.out_station, o.out_staff, o.out_id_checked,
           r.name AS rack_name, r.out_of_service_at,
           COALESCE((SELECT e.timezone FROM event e ORDER BY e.id LIMIT 1), 'UTC') AS timezone
    FROM gone o CROSS JOIN holder h LEFT JOIN rack r ON r.id = o.rack_id
    """
).columns(*_fast_columns(*_TICKET_COLUMNS, "timezone"))

#: The same with the operation's audit row (at the transaction's time: the step path's ``now``).
_SAVE_WITH_AUDIT = text(
    """
    WITH aud AS (
        INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail)
        VALUES (now(), :station, :staff, :correlation_id, :action, :subject, :detail)
    )
    UPDATE operation SET result = :result WHERE op_id = :op_id
    """
)


def _tap_in_one_statement(store: Store, actor: Actor, band_uid: str) -> CoatTicket | None:
    """The common case of :func:`coat_tap` on PostgreSQL, or None to take the step path."""

    def attempt(conn: DriverConnection) -> CoatTicket:
        row = conn.execute(
            _TAP_CTE,
            {
                "uid": band_uid,
                **actor_params(actor),
            },
        ).first()
        if row is None:
            raise Fallback  # a refusal, no room, an instalment due or a retried operation id
        note = ""
        if row.full_racks:
            note = _("{racks} full: this coat goes on {rack}.").format(
                racks=", ".join(row.full_racks), rack=row.rack_name
            )
        result = _ticket(row, row.timezone, row.action, note)
        conn.execute(SAVE_RESULT, {"op_id": actor.op_id, "result": codec.dump(result)})
        return result

    # Stations racing for the same lowest free hanger: the loser's next attempt takes the next one.
    return store.run_one_statement(actor, attempt, conflict_retries=3)


def _out_in_one_statement(
    store: Store, actor: Actor, coat_id: int, band_uid: str
) -> CoatTicket | None:
    """:func:`coat_out` by band on PostgreSQL, or None to take the step path."""

    def attempt(conn: DriverConnection) -> CoatTicket:
        row = conn.execute(
            _OUT_CTE,
            {
                "uid": band_uid,
                "coat_id": coat_id,
                **actor_params(actor),
            },
        ).first()
        if row is None:
            raise Fallback  # a refusal to explain, or a retried operation id
        result = _ticket(row, row.timezone, "out")
        # The audit row exactly as the step path's store.audit(..., "coat_out", coat.label, ...).
        detail = {
            "attendee_id": result.attendee_id,
            "coat_id": coat_id,
            "proof": "band",
            "checked_by": None,
        }
        conn.execute(
            _SAVE_WITH_AUDIT,
            {
                **actor_params(actor),
                "action": "coat_out",
                "subject": result.label[:200],
                "detail": json.dumps(detail, ensure_ascii=False, default=str),
                "result": codec.dump(result),
            },
        )
        return result

    return store.run_one_statement(actor, attempt)


# -- paper mode and reconciliation -------------------------------------------------------------


def record_paper_mode(store: Store, actor: Actor, on: bool) -> None:
    """Write a ``coats_paper_mode`` audit row: this station switched paper mode on or off."""
    with store.db.write() as conn:
        store.audit(conn, actor, store.db.now(conn), "coats_paper_mode", actor.station, on=on)
        store.advance(conn, actor.station)


def read_reconcile_csv(path: Path) -> tuple[list[ReconcileRow], list[ReconcileLine]]:
    """The rows of a reconciliation CSV (paper tag, attendee code or e-mail, hanger or
    "collected"; a header line is optional) and the lines that could not be read."""
    rows: list[ReconcileRow] = []
    broken: list[ReconcileLine] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise NotFound(_("Cannot read {file}: {error}").format(file=path, error=exc)) from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    for number, cells in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        values = [c.strip() for c in cells]
        if not any(values):
            continue
        if number == 1 and values and not any(ch.isdigit() for ch in values[0]):
            continue  # a header line
        if len(values) < 3 or not all(values[:3]):
            broken.append(
                ReconcileLine(
                    number,
                    values[0] if values else "",
                    "error",
                    _(
                        "line {line}: needs three columns: paper tag, attendee code or e-mail, "
                        "hanger or “collected”."
                    ).format(line=number),
                )
            )
            continue
        rows.append(ReconcileRow(number, values[0], values[1], values[2]))
    return rows, broken


_COLLECTED_WORDS = frozenset({"collected", "out", "returned", "выдано", "выдан", "забрал"})


def _attendee_for(conn: Connection, who: str) -> Any:
    email = who.strip().lower()
    if "@" in email:
        row = conn.execute(
            select(attendee_t.c.id, attendee_t.c.name).where(
                func.lower(attendee_t.c.email) == email
            )
        ).first()
    else:
        code = parse_scan(who) or normalise_code(who) or who.strip().upper()
        row = conn.execute(
            select(attendee_t.c.id, attendee_t.c.name).where(attendee_t.c.code == code)
        ).first()
    return row


def _enter_paper_coat(
    conn: Connection,
    actor: Actor,
    now: datetime,
    person: Any,
    tag: str,
    timezone: str,
    where: dict[str, Any],
) -> int:
    """A paper-tag coat the laptops never saw (handed in while they were down), entered at
    reconcile with ``where`` (its hanger, or already collected); refused when the person has
    another coat in."""
    other = conn.execute(_HELD_BY, {"p_attendee": person.id}).first()
    if other is not None:
        raise Refused(
            _("{name} has another coat in ({where}): check the tag.").format(
                name=person.name, where=_ticket(other, timezone).label
            ),
            reason="other_coat",
        )
    values = {
        "op_id": actor.op_id,
        "attendee_id": person.id,
        "paper_tag": tag,
        "in_at": now,
        "in_station": actor.station,
        "in_staff": actor.staff,
        "out_id_checked": False,
        **where,
    }
    return int(conn.execute(_INSERT_COAT, values).scalar_one())


def reconcile_row(store: Store, actor: Actor, row: ReconcileRow) -> ReconcileLine:
    """Apply one reconciliation row in its own operation; a row done before is "already".

    The coat is the one with this paper tag for this person (held, or collected before). When
    the laptop was down and the coat was never entered, it is entered now: held on the hanger,
    or closed as collected, so nothing handed in on paper is lost.
    """

    def work(conn: Connection, now: datetime) -> ReconcileLine:
        tag = _clean_tag(row.paper_tag)
        timezone = _timezone(conn)
        person = _attendee_for(conn, row.who)
        if person is None:
            raise Refused(
                _("nobody has the invitation code or e-mail “{who}”.").format(who=row.who),
                reason="unknown_attendee",
            )
        collect = row.target.strip().casefold() in _COLLECTED_WORDS
        hanger: tuple[str, int] | None = None
        if not collect:
            hanger = parse_hanger(conn, row.target)
            if hanger is None:
                raise Refused(
                    _("“{target}” is not a hanger (e.g. “Rack A 17”) nor “collected”.").format(
                        target=row.target
                    ),
                    reason="bad_target",
                )
        coat = conn.execute(
            _TICKET.where(coat_t.c.paper_tag == tag, coat_t.c.attendee_id == person.id).order_by(
                coat_t.c.state, coat_t.c.id.desc()
            )
        ).first()
        if coat is not None and coat.state != "in":
            return ReconcileLine(
                row.line,
                tag,
                "already",
                _("paper tag {tag}: {name}'s coat was already handed back at {time}.").format(
                    tag=tag, name=person.name, time=local_time(coat.out_at, timezone)
                ),
            )
        if collect:
            if coat is None:
                coat_id = _enter_paper_coat(
                    conn,
                    actor,
                    now,
                    person,
                    tag,
                    timezone,
                    {
                        "rack_id": None,
                        "hanger": None,
                        "state": "collected",
                        "out_at": now,
                        "out_op_id": actor.op_id,
                        "out_station": actor.station,
                        "out_staff": actor.staff,
                    },
                )
                store.audit(
                    conn,
                    actor,
                    now,
                    "coat_reconciled",
                    tag,
                    attendee_id=person.id,
                    coat_id=int(coat_id),
                    to="collected",
                    entered=True,
                )
                return ReconcileLine(
                    row.line,
                    tag,
                    "collected",
                    _("paper tag {tag}: {name}'s coat entered and closed as collected.").format(
                        tag=tag, name=person.name
                    ),
                )
            conn.execute(
                update(coat_t)
                .where(coat_t.c.id == coat.id, coat_t.c.state == "in")
                .values(
                    state="collected",
                    out_at=now,
                    out_op_id=actor.op_id,
                    out_station=actor.station,
                    out_staff=actor.staff,
                )
            )
            store.audit(
                conn,
                actor,
                now,
                "coat_reconciled",
                tag,
                attendee_id=person.id,
                coat_id=int(coat.id),
                to="collected",
            )
            where = f" ({_ticket(coat, timezone).label})" if coat.hanger is not None else ""
            return ReconcileLine(
                row.line,
                tag,
                "collected",
                _("paper tag {tag}: {name}'s coat closed as collected{where}.").format(
                    tag=tag, name=person.name, where=where
                ),
            )
        assert hanger is not None
        rack = conn.execute(_RACKS.where(rack_t.c.id == hanger[0])).one()
        label = f"{rack.name} · {hanger[1]}"
        if coat is not None and coat.rack_id == hanger[0] and coat.hanger == hanger[1]:
            return ReconcileLine(
                row.line,
                tag,
                "already",
                _("paper tag {tag}: {name}'s coat is already on {hanger}.").format(
                    tag=tag, name=person.name, hanger=label
                ),
            )
        if hanger[1] > rack.capacity:
            raise Refused(
                _("{rack} has {capacity} hangers: there is no hanger {number}.").format(
                    rack=rack.name, capacity=rack.capacity, number=hanger[1]
                ),
                reason="no_such_hanger",
            )
        holder = conn.execute(
            _TICKET.where(
                coat_t.c.rack_id == hanger[0], coat_t.c.hanger == hanger[1], coat_t.c.state == "in"
            )
        ).first()
        if holder is not None:
            raise Refused(
                _("{hanger} already holds {name}'s coat: check the hanger number.").format(
                    hanger=label, name=holder.name
                ),
                reason="hanger_taken",
            )
        if coat is None:
            coat_id = _enter_paper_coat(
                conn,
                actor,
                now,
                person,
                tag,
                timezone,
                {"rack_id": hanger[0], "hanger": hanger[1], "state": "in"},
            )
            entered = True
        else:
            coat_id = coat.id
            conn.execute(
                update(coat_t)
                .where(coat_t.c.id == coat.id, coat_t.c.state == "in")
                .values(rack_id=hanger[0], hanger=hanger[1])
            )
            entered = False
        store.audit(
            conn,
            actor,
            now,
            "coat_reconciled",
            tag,
            attendee_id=person.id,
            coat_id=int(coat_id),
            to=f"{hanger[0]}:{hanger[1]}",
            entered=entered,
        )
        return ReconcileLine(
            row.line,
            tag,
            "moved",
            _("paper tag {tag}: {name}'s coat is now on {hanger}.").format(
                tag=tag, name=person.name, hanger=label
            ),
        )

    return store.run(actor, "coat_reconcile", work, ReconcileLine)


def reconcile(store: Store, actor: Actor, rows: Sequence[ReconcileRow]) -> ReconcileReport:
    """Apply reconciliation rows one by one (each its own operation); a refused row is reported
    with its line number and skipped. Running the same file again changes nothing."""
    lines: list[ReconcileLine] = []
    for row in rows:
        try:
            done = reconcile_row(store, actor.next_action(), row)
            lines.append(
                replace(
                    done,
                    message=_("line {line}: {message}").format(line=row.line, message=done.message),
                )
            )
        except DomainError as error:
            lines.append(
                ReconcileLine(
                    row.line,
                    row.paper_tag,
                    "error",
                    _("line {line}: {message}").format(line=row.line, message=error.message),
                )
            )
    return ReconcileReport(tuple(lines))


def reconcile_file(store: Store, actor: Actor, path: Path) -> ReconcileReport:
    """Read a reconciliation CSV and apply it; broken lines are reported, never guessed."""
    rows, broken = read_reconcile_csv(path)
    applied = reconcile(store, actor, rows)
    return ReconcileReport(tuple(sorted(broken + list(applied.lines), key=lambda x: x.line)))


# -- invariants -------------------------------------------------------------------------------


def verify_coats(conn: Connection) -> tuple[list[str], list[str]]:
    """The coat check's invariants (called by :meth:`Store.verify`): what was checked, and each
    violation as one line for a person."""
    checked = [_("no two held coats on one hanger"), _("no held coat beyond its rack")]
    violations: list[str] = []
    for row in conn.execute(
        select(coat_t.c.rack_id, coat_t.c.hanger, func.count().label("n"))
        .where(coat_t.c.state == "in", coat_t.c.hanger.is_not(None))
        .group_by(coat_t.c.rack_id, coat_t.c.hanger)
        .having(func.count() > 1)
    ):
        violations.append(
            _("Hanger {hanger} of rack {rack} holds {n} coats.").format(
                hanger=row.hanger, rack=row.rack_id, n=row.n
            )
        )
    # A hanger number beyond the rack's capacity is a violation unless the event file shrank
    # the rack after the coat came in (then the coat is really there: staff move it).
    for row in conn.execute(
        select(coat_t.c.id, coat_t.c.rack_id, coat_t.c.hanger, rack_t.c.capacity)
        .join(rack_t, rack_t.c.id == coat_t.c.rack_id)
        .where(
            coat_t.c.state == "in",
            coat_t.c.hanger > rack_t.c.capacity,
            or_(rack_t.c.updated_at <= coat_t.c.in_at, rack_t.c.updated_at.is_(None)),
        )
    ):
        violations.append(
            _("Coat {id} is on hanger {hanger} of rack {rack}, which has {capacity}.").format(
                id=row.id, hanger=row.hanger, rack=row.rack_id, capacity=row.capacity
            )
        )
    checked.append(_("every handed-back coat records when and where"))
    for row in conn.execute(
        select(coat_t.c.id).where(
            coat_t.c.state == "collected",
            or_(coat_t.c.out_at.is_(None), coat_t.c.out_station.is_(None)),
        )
    ):
        violations.append(_("Coat {id} is handed back with no record of it.").format(id=row.id))
    return checked, violations
