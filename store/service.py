"""The store service: the one object screens and CLI commands call.

Each public method is one unit of work in its own transaction and returns frozen dataclasses.
Writes that change state run through :meth:`Store.run`, which makes them idempotent by
operation id, stamps them with the database clock, writes their audit row and advances the
station's change counter, all in the same transaction.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from store import codec, credit
from store.context import Actor, correlation
from store.driver import RECORD_REFUSAL, DriverConnection, actor_params
from store.engine import Database, make_database, unavailable
from store.errors import Conflict, DatabaseUnavailable, DomainError, OutcomeUnknown, Refused
from store.i18n import _
from store.ledger import account_t, insert_ignore, system_account_id, transfer_t
from store.migrate import upgrade
from store.models import Attendee, Audit, Band, Event, Operation, Station
from store.results import BandChoice, BandLookup, OperationOutcome, StationInfo, VerifyReport

__all__ = ["Store"]

log = logging.getLogger("tapdesk.store")

R = TypeVar("R")

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
operation_t: Table = Operation.__table__  # type: ignore[attr-defined]
station_t: Table = Station.__table__  # type: ignore[attr-defined]
#: Per engine, system accounts by (kind, station) known to exist (see Store.account_id), and
#: ("station row", station) once the station's row exists (Store.issuer_id).
_accounts_known: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], int]] = (
    weakref.WeakKeyDictionary()
)
audit_t: Table = Audit.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]

#: How often a running station announces itself (tui/app.py's heartbeat).
HEARTBEAT_SECONDS = 5.0
#: A station that has not announced itself for this many heartbeats is shown as silent.
SILENT_AFTER_BEATS = 3
SILENT_AFTER = timedelta(seconds=HEARTBEAT_SECONDS * SILENT_AFTER_BEATS)


#: Hot-path statements, built once (see PERFORMANCE.md: statement construction is CPU).
_SAVE_RESULT = (
    update(operation_t)
    .where(operation_t.c.op_id == bindparam("p_op"))
    .values(result=bindparam("result"))
)
_ADVANCE = (
    update(station_t)
    .where(station_t.c.name == bindparam("p_station"))
    .values(change_seq=station_t.c.change_seq + 1)
)


#: PostgreSQL: the result saved and the station's counter advanced in one round trip.
_SAVE_AND_ADVANCE = text(
    """
    WITH saved AS (UPDATE operation SET result = :result WHERE op_id = :p_op)
    UPDATE station SET change_seq = change_seq + 1 WHERE name = :p_station RETURNING change_seq
    """
)


def db_clock(dialect: str) -> ColumnElement[Any]:
    """The database's current time as a SQL expression (text with microseconds on SQLite)."""
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", "now")
    return func.now()


def outcome_unknown(op_id: str) -> OutcomeUnknown:
    """The error for a connection lost while COMMIT was on its way."""
    return OutcomeUnknown(
        _(
            "Outcome unknown: the connection broke while saving. Checking operation {op_id} "
            "as soon as the database answers; do not repeat it."
        ).format(op_id=op_id[:8]),
        op_id,
    )


def _claim_statement(dialect: str) -> Any:
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(operation_t)
    return (
        ins.values(created_at=db_clock(dialect))
        .on_conflict_do_nothing()
        .returning(operation_t.c.op_id, operation_t.c.created_at)
    )


@dataclass(frozen=True, slots=True)
class _Found:
    """A band lookup's row, with the account's next pay-in-four due time."""

    uid: str
    state: str
    attendee_id: int | None = None
    name: str | None = None
    code: str | None = None
    company: str | None = None
    colour: str | None = None
    balance: int | None = None
    state_reason: str = ""
    state_at: datetime | None = None
    next_due_at: datetime | None = None

    def settle(self, conn: Connection, actor: Actor, now: datetime) -> tuple[BandLookup, bool]:
        """The lookup after collecting due instalments, and whether points moved.

        Only when one is due: a tap is a write transaction already, so this costs nothing when
        nothing is due.
        """
        balance = self.balance
        note = ""
        paused = False
        moved = False
        if (
            self.attendee_id is not None
            and self.next_due_at is not None
            and self.next_due_at <= now
        ):
            collected = credit.collect_on_lookup(
                conn, actor, now, self.attendee_id, self.next_due_at
            )
            if collected.balance is not None:
                balance = collected.balance
            note, paused, moved = collected.note(), collected.paused, collected.paid > 0
        found = BandLookup(
            uid=self.uid,
            state=self.state,
            attendee_id=self.attendee_id,
            name=self.name,
            code=self.code,
            company=self.company,
            colour=self.colour,
            balance=balance,
            state_reason=self.state_reason,
            state_at=self.state_at,
            credit_note=note,
            paused=paused,
        )
        return found, moved


#: The SQLSTATE of ``tapdesk_fallback()`` (migration 0007): a one-statement operation undid itself.
FALLBACK_SQLSTATE = "TD001"


def _refusal_detail(kind: str, reason: str, message: str) -> dict[str, Any]:
    """The detail of a "refused" audit row."""
    return {"kind": kind, "reason": reason, "message": message}


def refusal_detail_json(kind: str, reason: str, message: str) -> str:
    """The detail of a "refused" audit row, exactly as :meth:`Store.audit` writes it."""
    return json.dumps(_refusal_detail(kind, reason, message), ensure_ascii=False, default=str)


class Fallback(Exception):
    """Raised inside :meth:`Store.run_one_statement`: roll back, take the step-by-step path."""


class Store:
    """Domain operations on one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Prebuilt once: building statements per call costs more CPU than running them.
        self._claim = _claim_statement(db.dialect)
        self._save_and_advance = _SAVE_AND_ADVANCE if db.dialect == "postgresql" else None
        #: Operations try their one-statement path first (PostgreSQL). Tests switch it off to
        #: check that the step-by-step path gives the same results.
        self.one_statement = db.dialect == "postgresql"

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url``, check it answers, and (by default) bring its schema up to date.

        Raises :class:`~store.errors.DatabaseUnavailable` or
        :class:`~store.errors.DatabaseTooNew` with a message for a person.
        """
        db = make_database(url)
        try:
            db.check()
            if migrate:
                upgrade(db)
        except DBAPIError as exc:
            db.dispose()
            raise unavailable(db.url, exc) from exc
        except DomainError:
            db.dispose()
            raise
        return cls(db)

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()

    # -- the operation runner -------------------------------------------------------------

    def run(
        self,
        actor: Actor,
        kind: str,
        work: Callable[[Connection, datetime], R],
        result_type: type[R],
    ) -> R:
        """Apply ``work`` once for ``actor.op_id`` and return its result.

        A second call with the same operation id (a retry after a time-out, a double key press,
        another process racing) returns the first result and changes nothing: the operation row
        is inserted first and its primary key decides. A :class:`Refused` raised by ``work``
        rolls everything back and is recorded in the audit log with its reason.
        """
        committing = False
        with correlation(actor.correlation_id):
            try:
                with self.db.write() as conn:
                    # Claim the operation id and read the database clock in one round trip.
                    claimed = conn.execute(
                        self._claim,
                        {
                            "op_id": actor.op_id,
                            "kind": kind,
                            "station": actor.station,
                            "staff": actor.staff,
                            "correlation_id": actor.correlation_id,
                            "result": "",
                        },
                    ).first()
                    if claimed is None:
                        return self._replayed(conn, actor, kind, result_type)
                    now: datetime = claimed.created_at
                    result = work(conn, now)
                    self._finish(conn, actor, codec.dump(result))
                    # Leaving the block sends COMMIT: a broken connection from here on leaves
                    # the outcome unknown (the server may have committed).
                    committing = True
                log.info("operation applied", extra={"kind": kind, "op_id": actor.op_id})
                return result
            except Refused as refusal:
                log.info(
                    "operation refused",
                    extra={"kind": kind, "op_id": actor.op_id, "reason": refusal.reason},
                )
                self._record_refusal(actor, kind, refusal)
                raise
            except IntegrityError as exc:
                # A constraint caught a race the operation's own checks could not see (another
                # station won it a moment earlier). Nothing was applied: say so plainly.
                log.warning(
                    "constraint conflict", extra={"kind": kind, "op_id": actor.op_id}, exc_info=True
                )
                raise Conflict(
                    _(
                        "Another station changed the same thing at the same moment; nothing was "
                        "saved. Try again."
                    )
                ) from exc
            except (DBAPIError, DatabaseUnavailable) as exc:
                log.warning(
                    "database error",
                    extra={"kind": kind, "op_id": actor.op_id, "committing": committing},
                    exc_info=True,
                )
                if isinstance(exc, OutcomeUnknown):
                    raise
                if committing:
                    raise outcome_unknown(actor.op_id) from exc
                if isinstance(exc, DatabaseUnavailable):
                    raise
                raise unavailable(self.db.url, exc) from exc

    def run_one_statement(
        self,
        actor: Actor,
        attempt: Callable[[DriverConnection], R],
        *,
        single: bool = False,
        conflict_retries: int = 0,
        kind: str = "",
    ) -> R | None:
        """The common case of an operation as one statement (PostgreSQL), or None to fall back.

        ``attempt`` sends one prebuilt ``text()`` statement (data-modifying CTEs that claim the
        operation id, check every guard, write every row, save the result and advance the
        station's change counter) and returns the result, or raises :class:`Fallback` when the
        statement could not do it all: a refusal to explain, a limit, a retried operation id, an
        instalment due. Then the whole transaction is rolled back — nothing was written — and
        the caller runs the step-by-step path, which explains the refusal (and records it) or
        returns the retried operation's first result. A unique-index conflict (another station
        won a race) falls back the same way. A connection lost after COMMIT was sent is
        "outcome unknown".

        The statement goes straight through the driver (:mod:`store.driver`): half the client
        CPU of the same statement through SQLAlchemy. The station's row (whose change counter
        the statement advances) and its issuer account exist before the first attempt
        (:meth:`issuer_id`).

        ``single``: the attempt sends exactly one statement, and that statement is all-or-nothing
        by itself — it returns no result only when it wrote nothing, and when it finds after
        writing that it cannot finish (a race lost a moment ago) it calls ``tapdesk_fallback()``
        (migration 0007), whose error undoes it. Then it runs without BEGIN and COMMIT: one round
        trip instead of three. A connection lost while it runs leaves the outcome unknown (the
        server may have committed it), settled by the operation id like a lost COMMIT.

        ``conflict_retries``: after a unique-index conflict (another station took the same hanger
        a moment ago), run the attempt again up to that many times before falling back: the next
        attempt sees the winner's row and takes another one.

        A plain refusal the statement shows (a prize sold out) need not take the step path: the
        attempt raises :class:`Refused` with the step path's words and reason, having written
        nothing that stays (a ``single`` statement wrote nothing; otherwise the transaction is
        rolled back). It is recorded as :meth:`run` records a refusal of operation ``kind``.
        """
        committing = False
        with correlation(actor.correlation_id):
            try:
                self.issuer_id(actor.station)
                try:
                    fairy = self.db.engine.raw_connection()
                except DBAPIError as exc:
                    raise unavailable(self.db.url, exc) from exc
                raw: psycopg.Connection[Any] = fairy.driver_connection  # type: ignore[assignment]
                try:
                    if single:
                        result = self._attempt_alone(raw, attempt)
                    else:
                        # BEGIN goes with the first statement. Not psycopg's transaction()
                        # block: its rollback forgets the prepared statements (store/engine.py).
                        try:
                            result = attempt(DriverConnection(self.db.engine, raw))
                        except BaseException:
                            if not (raw.broken or raw.closed):
                                raw.rollback()
                            raise
                        committing = True
                        raw.commit()
                except psycopg.Error:
                    if raw.broken or raw.closed:
                        fairy.invalidate()  # the pool must not hand out a dead connection
                        committing = committing or single  # it may have committed on its own
                    raise
                finally:
                    fairy.close()
            except Fallback:
                return None  # rolled back: nothing written
            except Refused as refusal:
                log.info(
                    "operation refused",
                    extra={"kind": kind, "op_id": actor.op_id, "reason": refusal.reason},
                )
                self._record_refusal_now(actor, kind, refusal)
                raise
            except psycopg.errors.IntegrityError:
                if conflict_retries <= 0:
                    return None  # rolled back: nothing written
                return self.run_one_statement(
                    actor,
                    attempt,
                    single=single,
                    conflict_retries=conflict_retries - 1,
                    kind=kind,
                )
            except (psycopg.Error, DatabaseUnavailable) as exc:
                log.warning(
                    "database error",
                    extra={"kind": "one_statement", "op_id": actor.op_id, "committing": committing},
                    exc_info=True,
                )
                if committing:
                    raise outcome_unknown(actor.op_id) from exc
                if isinstance(exc, DatabaseUnavailable):
                    raise
                raise unavailable(self.db.url, exc) from exc
        if not isinstance(result, Refused):  # the cool award's refusal, recorded by its statement
            log.info(
                "operation applied", extra={"kind": kind or "one_statement", "op_id": actor.op_id}
            )
        return result

    def _attempt_alone(
        self, raw: psycopg.Connection[Any], attempt: Callable[[DriverConnection], R]
    ) -> R:
        """Run an all-or-nothing one-statement attempt in autocommit (see run_one_statement)."""
        raw.autocommit = True
        try:
            return attempt(DriverConnection(self.db.engine, raw))
        except psycopg.Error as exc:
            if exc.sqlstate == FALLBACK_SQLSTATE:
                raise Fallback from exc  # the statement undid itself: nothing written
            raise
        finally:
            if not (raw.broken or raw.closed):
                raw.autocommit = False

    def issuer_id(self, station: str) -> int:
        """``station``'s issuer account, made (with the station's row) on first use.

        Cached per engine: after the first call this reads nothing.
        """
        known = _accounts_known.setdefault(self.db.engine, {})
        if ("station row", station) not in known:
            with self.db.write() as conn:
                conn.execute(
                    insert_ignore(conn, station_t).values(
                        name=station, reader_state="", change_seq=0
                    )
                )
            known[("station row", station)] = 0
        return self.account_id("issuer", station)

    def account_id(self, kind: str, station: str) -> int:
        """``station``'s sub-account of the system account ``kind`` ("issuer", "counter",
        "credit"), made on first use; cached per engine once committed, so that a one-statement
        path (which cannot run the ledger's SQLAlchemy lookup) reads nothing."""
        known = _accounts_known.setdefault(self.db.engine, {})
        found = known.get((kind, station))
        if found is None:
            with self.db.write() as conn:
                found = system_account_id(conn, kind, station)
            known[(kind, station)] = found  # committed: the id is for good
        return found

    def operation_outcome(self, op_id: str) -> OperationOutcome | None:
        """The committed operation ``op_id`` (its kind and stored result), or None if it never
        landed. Raises :class:`DatabaseUnavailable` while the database does not answer: that is
        "still unknown", never "not saved"."""
        try:
            with self.db.read() as conn:
                row = conn.execute(
                    select(
                        operation_t.c.kind,
                        operation_t.c.station,
                        operation_t.c.created_at,
                        operation_t.c.result,
                    ).where(operation_t.c.op_id == op_id)
                ).first()
        except DBAPIError as exc:
            raise unavailable(self.db.url, exc) from exc
        if row is None:
            return None
        return OperationOutcome(
            op_id=op_id,
            kind=row.kind,
            station=row.station,
            at=row.created_at,
            result=row.result,
        )

    def _replayed(self, conn: Connection, actor: Actor, kind: str, result_type: type[R]) -> R:
        row = conn.execute(
            select(operation_t.c.kind, operation_t.c.result).where(
                operation_t.c.op_id == actor.op_id
            )
        ).one()
        if row.kind != kind:
            raise DomainError(
                _("Operation {op_id} was already used for {kind}.").format(
                    op_id=actor.op_id, kind=row.kind
                )
            )
        log.info("operation replayed", extra={"kind": kind, "op_id": actor.op_id})
        return codec.load(result_type, row.result)

    def _finish(self, conn: Connection, actor: Actor, result: str) -> None:
        """Save the operation's result and advance the station's change counter.

        On PostgreSQL both in one statement (one round trip less on every operation).
        """
        if self._save_and_advance is None:
            conn.execute(_SAVE_RESULT, {"p_op": actor.op_id, "result": result})
            self.advance(conn, actor.station)
            return
        advanced = conn.execute(
            self._save_and_advance,
            {"p_op": actor.op_id, "result": result, "p_station": actor.station},
        ).first()
        if advanced is None:  # the station's first operation: its row does not exist yet
            self.advance(conn, actor.station)

    def advance(self, conn: Connection, station: str) -> None:
        """Advance ``station``'s change counter inside the caller's transaction."""
        if conn.execute(_ADVANCE, {"p_station": station}).rowcount == 0:
            conn.execute(
                insert_ignore(conn, station_t).values(name=station, reader_state="", change_seq=0)
            )
            conn.execute(_ADVANCE, {"p_station": station})

    def audit(
        self,
        conn: Connection,
        actor: Actor,
        now: datetime,
        action: str,
        subject: str = "",
        **detail: Any,
    ) -> None:
        """Write one audit row inside the caller's transaction."""
        conn.execute(
            insert(audit_t).values(
                at=now,
                station=actor.station,
                staff=actor.staff,
                correlation_id=actor.correlation_id,
                action=action,
                subject=subject[:200],
                detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else "",
            )
        )

    def _record_refusal(self, actor: Actor, kind: str, refusal: Refused) -> None:
        try:
            with self.db.write() as conn:
                self.audit(
                    conn,
                    actor,
                    self.db.now(conn),
                    "refused",
                    refusal.scope or kind,
                    **_refusal_detail(kind, refusal.reason, refusal.message),
                )
        except DBAPIError:
            log.warning("could not record a refusal", exc_info=True)

    def _record_refusal_now(self, actor: Actor, kind: str, refusal: Refused) -> None:
        """:meth:`_record_refusal` in one statement through the driver (one round trip)."""
        params = {
            **actor_params(actor),
            "subject": (refusal.scope or kind)[:200],
            "detail": refusal_detail_json(kind, refusal.reason, refusal.message),
        }
        try:
            fairy = self.db.engine.raw_connection()
            raw: psycopg.Connection[Any] = fairy.driver_connection  # type: ignore[assignment]
            try:
                self._attempt_alone(raw, lambda conn: conn.execute(RECORD_REFUSAL, params))
            except psycopg.Error:
                if raw.broken or raw.closed:
                    fairy.invalidate()
                raise
            finally:
                fairy.close()
        except (psycopg.Error, DBAPIError):
            log.warning("could not record a refusal", exc_info=True)

    # -- bands ------------------------------------------------------------------------------

    def _lookup(self, conn: Connection, uid: str) -> _Found:
        row = conn.execute(
            select(
                band_t.c.state,
                band_t.c.state_reason,
                band_t.c.state_at,
                attendee_t.c.id,
                attendee_t.c.name,
                attendee_t.c.code,
                attendee_t.c.company,
                attendee_t.c.colour,
                account_t.c.balance,
                account_t.c.next_due_at,
            )
            .select_from(band_t)
            .outerjoin(attendee_t, attendee_t.c.id == band_t.c.attendee_id)
            .outerjoin(account_t, account_t.c.attendee_id == attendee_t.c.id)
            .where(band_t.c.uid == uid)
        ).first()
        if row is None or row.id is None:
            return _Found(uid=uid, state="unbound" if row is None else row.state)
        return _Found(
            uid=uid,
            state=row.state,
            attendee_id=row.id,
            name=row.name,
            code=row.code,
            company=row.company,
            colour=row.colour,
            balance=row.balance,
            state_reason=row.state_reason,
            state_at=row.state_at,
            next_due_at=row.next_due_at,
        )

    def identify_band(self, actor: Actor, uid: str) -> BandLookup:
        """Whose band ``uid`` is, recording the tap in the audit log."""
        with correlation(actor.correlation_id):
            try:
                with self.db.write() as conn:
                    now = self.db.now(conn)
                    found, moved = self._lookup(conn, uid).settle(conn, actor, now)
                    if moved:  # an instalment was collected: other stations refresh
                        self.advance(conn, actor.station)
                    self.audit(
                        conn,
                        actor,
                        now,
                        "tap",
                        uid,
                        state=found.state,
                        attendee_id=found.attendee_id,
                    )
                log.info("band tapped", extra={"uid": uid, "state": found.state})
            except DBAPIError as exc:
                raise unavailable(self.db.url, exc) from exc
        return found

    def band_choices(self, query: str = "", limit: int = 50) -> tuple[BandChoice, ...]:
        """Active bound bands whose holder's name or code contains ``query`` (any case)."""
        folded = query.casefold().strip()
        with self.db.read() as conn:
            rows = conn.execute(
                select(band_t.c.uid, attendee_t.c.name, attendee_t.c.code)
                .join(attendee_t, attendee_t.c.id == band_t.c.attendee_id)
                .where(band_t.c.state == "active")
                .order_by(attendee_t.c.name)
            ).all()
        # A few hundred bands: folding in Python handles Cyrillic, which SQLite's lower() does not.
        chosen = [
            BandChoice(uid=r.uid, name=r.name, code=r.code)
            for r in rows
            if not folded or folded in r.name.casefold() or folded in r.code.casefold()
        ]
        return tuple(chosen[:limit])

    # -- stations and the change sequence ---------------------------------------------------

    def announce(
        self, station: str, role: str | None, staff: str | None, reader_state: str
    ) -> None:
        """Record that ``station`` is alive, with its role, staff and reader state."""
        with self.db.write() as conn:
            now = self.db.now(conn)
            values = {
                "role": role,
                "staff": staff,
                "reader_state": reader_state[:200],
                "last_seen": now,
            }
            updated = conn.execute(
                update(station_t).where(station_t.c.name == station).values(**values)
            ).rowcount
            if updated == 0:
                conn.execute(
                    insert_ignore(conn, station_t).values(name=station, change_seq=0, **values)
                )

    def stations(self) -> tuple[StationInfo, ...]:
        """Every station that has announced itself, silent ones marked."""
        with self.db.read() as conn:
            now = self.db.now(conn)
            rows = conn.execute(select(station_t).order_by(station_t.c.name)).all()
        return tuple(
            StationInfo(
                name=r.name,
                role=r.role,
                staff=r.staff,
                reader_state=r.reader_state,
                last_seen=r.last_seen,
                silent=r.last_seen is None or now - r.last_seen > SILENT_AFTER,
            )
            for r in rows
        )

    def change_seq(self) -> int:
        """The sum of every station's change counter: it grows whenever anything commits."""
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(station_t.c.change_seq), 0))
                ).scalar_one()
            )

    def event_name(self) -> str | None:
        """The name of the loaded event, or None."""
        with self.db.read() as conn:
            return conn.execute(select(event_t.c.name).order_by(event_t.c.id).limit(1)).scalar()

    def event_timezone(self) -> str:
        """The loaded event's time zone ("UTC" when no event is loaded)."""
        with self.db.read() as conn:
            zone = conn.execute(select(event_t.c.timezone).order_by(event_t.c.id).limit(1)).scalar()
        return str(zone or "UTC")

    def audit_trail(self, correlation_id: str) -> tuple[dict[str, Any], ...]:
        """The audit rows written under one correlation id."""
        with self.db.read() as conn:
            rows = (
                conn.execute(
                    select(audit_t)
                    .where(audit_t.c.correlation_id == correlation_id)
                    .order_by(audit_t.c.id)
                )
                .mappings()
                .all()
            )
        return tuple(dict(r) for r in rows)

    # -- invariants -------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check the ledger's invariants; each violation is one line for a person."""
        checked: list[str] = []
        violations: list[str] = []
        a, t = account_t, transfer_t
        with self.db.read() as conn:
            checked.append(_("balances sum to zero"))
            total = conn.execute(select(func.coalesce(func.sum(a.c.balance), 0))).scalar_one()
            if total != 0:
                violations.append(_("Balances sum to {total}, not 0.").format(total=total))

            checked.append(_("every balance equals its transfers"))
            credits = (
                select(t.c.credit_account_id.label("id"), func.sum(t.c.amount).label("s"))
                .group_by(t.c.credit_account_id)
                .subquery()
            )
            debits = (
                select(t.c.debit_account_id.label("id"), func.sum(t.c.amount).label("s"))
                .group_by(t.c.debit_account_id)
                .subquery()
            )
            derived = func.coalesce(credits.c.s, 0) - func.coalesce(debits.c.s, 0)
            for row in conn.execute(
                select(a.c.id, a.c.balance, derived.label("derived"))
                .outerjoin(credits, credits.c.id == a.c.id)
                .outerjoin(debits, debits.c.id == a.c.id)
                .where(a.c.balance != derived)
            ):
                violations.append(
                    _("Account {id} holds {balance} but its transfers give {derived}.").format(
                        id=row.id, balance=row.balance, derived=row.derived
                    )
                )

            checked.append(_("no balance below its floor"))
            for row in conn.execute(
                select(a.c.id, a.c.balance, a.c.floor).where(
                    a.c.floor.is_not(None), a.c.balance < a.c.floor
                )
            ):
                violations.append(
                    _("Account {id} is at {balance}, below its floor {floor}.").format(
                        id=row.id, balance=row.balance, floor=row.floor
                    )
                )

            checked.append(_("no operation applied twice"))
            for row in conn.execute(
                select(t.c.op_id, t.c.seq, func.count().label("n"))
                .group_by(t.c.op_id, t.c.seq)
                .having(func.count() > 1)
            ):
                violations.append(
                    _("Operation {op_id} was applied {n} times.").format(op_id=row.op_id, n=row.n)
                )
            credit_checked, credit_violations = credit.verify_credit(conn)
            checked += credit_checked
            violations += credit_violations
            from store.coats import verify_coats  # the coat check keeps its own checks

            coat_checked, coat_violations = verify_coats(conn)
            checked.extend(coat_checked)
            violations.extend(coat_violations)
            # The prize counter's stock (regular and drops) and per-person limits.
            from store.counter import stock_checks  # the counter imports this module

            stock_checked, stock_violations = stock_checks(conn)
            checked.extend(stock_checked)
            violations.extend(stock_violations)
        return VerifyReport(checked=tuple(checked), violations=tuple(violations))
