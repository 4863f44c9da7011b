"""Prebuilt statements sent straight through the PostgreSQL driver, for the one-statement paths.

A one-statement operation (see :meth:`store.service.Store.run_one_statement`) sends a single
prebuilt ``text()`` statement. Through a SQLAlchemy ``Connection`` the statement costs about
twice the client CPU it costs through psycopg itself (result set-up, events, the transaction
object); on a 2-core machine shared by eight stations and the server that CPU is the limit of
the whole event's throughput. So those statements go through :class:`DriverConnection`, which
offers the little of ``Connection`` they use: ``execute(text(...), params)`` returning
``first()``/``one()``/``scalar()``/``all()``/``rowcount``, rows read by attribute.

Only ``text()`` statements are accepted (with ``.columns()`` too): a Core construct may carry
bind processors (types) that only SQLAlchemy's execution applies, so running one here could
store a different value. Result types are not applied either: times come back as the driver
reads them, in UTC because every PostgreSQL session is set to UTC (store/engine.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from psycopg import Connection as PsycopgConnection
from psycopg import Cursor
from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, text
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from store.context import Actor

__all__ = [
    "RECORD_REFUSAL",
    "SAVE_RESULT",
    "DriverConnection",
    "DriverResult",
    "actor_params",
    "before_execute",
    "compact",
]

#: Called with (psycopg connection, SQL) before each statement is sent: the load bench counts
#: statements here, tests cut connections here (SQLAlchemy's events do not see these statements).
before_execute: list[Callable[[PsycopgConnection[Any], str], None]] = []

#: A one-statement path's second statement when the result is made in Python: the operation
#: row's result, exactly as the step path stores it (``codec.dump``).
SAVE_RESULT = text("UPDATE operation SET result = :result WHERE op_id = :op_id")

#: A refusal a one-statement path found, recorded as ``Store.run`` records one (after the
#: rollback, by itself): the "refused" audit row, at the database's time.
RECORD_REFUSAL = text(
    "INSERT INTO audit (at, station, staff, correlation_id, action, subject, detail) "
    "VALUES (now(), :station, :staff, :correlation_id, 'refused', :subject, :detail)"
)

#: Each prebuilt statement's SQL in the driver's parameter style, compiled once.
_compiled: dict[int, tuple[TextClause | TextualSelect, str]] = {}


def actor_params(actor: Actor) -> dict[str, Any]:
    """Who does the operation, as every one-statement path's statement names it (a statement
    that needs fewer ignores the rest)."""
    return {
        "op_id": actor.op_id,
        "station": actor.station,
        "staff": actor.staff,
        "correlation_id": actor.correlation_id,
    }


def compact(sql: str) -> str:
    """``sql`` without its comments and indentation, for a prebuilt statement: psycopg parses
    a statement of at most 4 kB once, a longer one on every call. No "--" may stand inside a
    string literal of ``sql``, nor "( " or " )"."""
    lines = (line.split("--", 1)[0].strip() for line in sql.splitlines())
    return " ".join(line for line in lines if line).replace("( ", "(").replace(" )", ")")


def driver_sql(engine: Engine, statement: TextClause | TextualSelect) -> str:
    """``statement`` as psycopg SQL (``%(name)s`` parameters), compiled once per statement."""
    cached = _compiled.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    if not isinstance(statement, TextClause | TextualSelect):
        raise TypeError("one-statement paths send prebuilt text() statements only")
    sql = str(statement.compile(dialect=engine.dialect))
    _compiled[id(statement)] = (statement, sql)  # keeps the statement alive: the id stays valid
    return sql


class DriverResult:
    """A psycopg cursor that answers like a SQLAlchemy result for one-statement paths."""

    def __init__(self, cursor: Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def first(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def one(self) -> Any:
        row = self.first()
        if row is None:
            raise LookupError("the statement returned no row")
        return row

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def all(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []


class DriverConnection:
    """The part of a SQLAlchemy ``Connection`` a one-statement path uses, on the raw driver."""

    def __init__(self, engine: Engine, raw: PsycopgConnection[Any]) -> None:
        self.engine = engine
        self._raw = raw

    def execute(
        self, statement: TextClause | TextualSelect, params: Mapping[str, Any] | None = None
    ) -> Any:
        sql = driver_sql(self.engine, statement)
        for listener in before_execute:
            listener(self._raw, sql)
        cursor = self._raw.cursor(row_factory=namedtuple_row)
        cursor.execute(sql, dict(params or {}))
        return DriverResult(cursor)
