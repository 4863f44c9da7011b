"""Importing the registration list and the points earned before the event.

Both read a CSV file as spreadsheets save it: UTF-8 with or without a BOM (a file that is not
UTF-8 is read as Windows-1251, what a Russian Excel saves), ``,``, ``;`` or tab between the
columns, quoted cells that may hold line breaks. Headers in English or Russian are recognised;
a mapping (``--column "Участник=name"`` or a small TOML file) names the others.

A row with a problem never stops the import and is never silently dropped: it is reported with
its line number and the reason. Importing the same file again changes nothing; an updated file
changes only the people whose data changed. People in the database who are not in the file are
reported, never deleted.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from store import codec
from store.context import Actor, correlation
from store.desk import OTHER_FIELD, known_fields, normalise_field, valid_email
from store.errors import ConfigurationError
from store.i18n import _
from store.invites import new_code, normalise_code
from store.ledger import account_t, post_transfer, system_account_id
from store.models import Attendee, Band, PendingPoints
from store.search import index_attendees
from store.service import Store

__all__ = [
    "ATTENDEE_FIELDS",
    "POINTS_FIELDS",
    "ImportReport",
    "MissingPerson",
    "PointsImportReport",
    "RejectedRow",
    "import_attendees",
    "import_points",
    "load_mapping",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]
pending_t: Table = PendingPoints.__table__  # type: ignore[attr-defined]

#: What a column of the registration list can hold; "ignore" skips a column.
ATTENDEE_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "company",
    "field",
    "tags",
    "code",
    "registered_via",
)
#: What a column of the points file can hold.
POINTS_FIELDS = ("email", "code", "reason", "points", "external_id")
IGNORE = "ignore"
#: Rows written per transaction: other stations wait at most one batch for the database.
BATCH_ROWS = 5000

# Headers as people write them, normalised by _header_key (folded, punctuation as spaces).
_ATTENDEE_HEADERS: dict[str, str] = {
    **dict.fromkeys(
        [
            "name",
            "full name",
            "fullname",
            "participant",
            "attendee",
            "фио",
            "ф и о",
            "имя",
            "имя фамилия",
            "имя и фамилия",
            "фамилия имя",
            "фамилия и имя",
            "участник",
        ],
        "name",
    ),
    **dict.fromkeys(["first name", "firstname", "given name"], "first_name"),
    **dict.fromkeys(["last name", "lastname", "surname", "family name", "фамилия"], "last_name"),
    **dict.fromkeys(
        [
            "email",
            "e mail",
            "mail",
            "email address",
            "e mail address",
            "почта",
            "эл почта",
            "электронная почта",
            "адрес электронной почты",
            "емейл",
            "имейл",
            "e mail адрес",
        ],
        "email",
    ),
    **dict.fromkeys(
        [
            "company",
            "organisation",
            "organization",
            "employer",
            "компания",
            "организация",
            "место работы",
            "работодатель",
        ],
        "company",
    ),
    **dict.fromkeys(
        ["field", "role", "track", "area", "направление", "роль", "специализация"], "field"
    ),
    **dict.fromkeys(["tags", "interests", "интересы", "теги", "темы"], "tags"),
    **dict.fromkeys(
        ["code", "invitation code", "invite code", "invitation", "код", "код приглашения"], "code"
    ),
    **dict.fromkeys(
        ["registered via", "registered_via", "source", "channel", "источник", "канал"],
        "registered_via",
    ),
}
_POINTS_HEADERS: dict[str, str] = {
    **{k: v for k, v in _ATTENDEE_HEADERS.items() if v in ("email", "code")},
    **dict.fromkeys(
        ["reason", "for", "comment", "description", "причина", "за что", "комментарий"],
        "reason",
    ),
    **dict.fromkeys(["points", "score", "amount", "баллы", "очки", "количество"], "points"),
    **dict.fromkeys(
        [
            "external id",
            "external_id",
            "id",
            "transaction id",
            "внешний id",
            "внешний идентификатор",
            "идентификатор",
        ],
        "external_id",
    ),
}
#: Headers that mean the first name when a separate last-name column exists.
_GIVEN_NAME_HEADERS = frozenset({"имя", "name", "first name", "firstname", "given name"})

_TAG_SPLIT = re.compile(r"[;,|]")
_PUNCTUATION = re.compile(r"[\s_\-.:/]+")


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that was not imported, and why."""

    line: int
    """The line of the file where the row starts (the header is line 1)."""
    reason: str
    name: str
    """What the row's name cell held, to find it in the file."""
    email: str


@dataclass(frozen=True, slots=True)
class MissingPerson:
    """Someone in the database whom the imported file does not list (kept, never deleted)."""

    attendee_id: int
    name: str
    email: str | None
    code: str
    registered_via: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import of the registration list did."""

    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: tuple[RejectedRow, ...]
    missing_from_file: tuple[MissingPerson, ...]
    columns: tuple[tuple[str, str], ...]
    """(column header, field) for every column used."""
    ignored_columns: tuple[str, ...]
    delimiter: str
    encoding: str

    @property
    def changed(self) -> bool:
        """True when the import created or updated anyone."""
        return bool(self.created or self.updated)

    def summary(self) -> str:
        """One line for a person."""
        return _(
            "{rows} rows: {created} new, {updated} updated, {unchanged} unchanged, "
            "{rejected} rejected; {missing} in the database are not in the file."
        ).format(
            rows=self.rows,
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=len(self.rejected),
            missing=len(self.missing_from_file),
        )


@dataclass(frozen=True, slots=True)
class PointsImportReport:
    """What an import of pre-event points did."""

    rows: int
    imported: int
    """New rows stored (waiting for the band, or posted now)."""
    points_imported: int
    already_imported: int
    """Rows whose external id was imported before with the same person and points."""
    posted_now: int
    """Points posted at once because their attendee already wears a band."""
    attendees_posted: int
    rejected: tuple[RejectedRow, ...]

    def summary(self) -> str:
        """One line for a person."""
        return _(
            "{rows} rows: {imported} new ({points} points, {posted} of them posted to bands "
            "already bound), {already} imported before, {rejected} rejected."
        ).format(
            rows=self.rows,
            imported=self.imported,
            points=self.points_imported,
            posted=self.posted_now,
            already=self.already_imported,
            rejected=len(self.rejected),
        )


# -- reading the file ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Table:
    headers: list[str]
    records: list[tuple[int, list[str]]]
    delimiter: str
    encoding: str


def _header_key(header: str) -> str:
    return _PUNCTUATION.sub(" ", header.replace("\ufeff", "").strip().strip('"').casefold()).strip()


def _delimiter(first_line: str) -> str:
    counts = {d: 0 for d in (",", ";", "\t")}
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_table(path: str | Path) -> _Table:
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            _("Cannot read {path}: {reason}.").format(path=source, reason=exc.strerror or exc)
        ) from exc
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("cp1251", errors="replace"), "cp1251"
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        raise ConfigurationError(_("{path} is empty.").format(path=source)) from None
    records: list[tuple[int, list[str]]] = []
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
    except csv.Error as exc:
        raise ConfigurationError(
            _("{path}, line {line}: {reason}.").format(path=source, line=line + 1, reason=exc)
        ) from exc
    return _Table([h.strip() for h in headers], records, delimiter, encoding)


def load_mapping(path: str | Path) -> dict[str, str]:
    """A column mapping from a small TOML file: ``"column header" = "field"`` pairs.

    The pairs may sit at the top level or under ``[columns]``. Fields are those of
    :data:`ATTENDEE_FIELDS` (or :data:`POINTS_FIELDS`), or "ignore".
    """
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            _("Cannot read the mapping {path}: {reason}.").format(path=source, reason=exc)
        ) from exc
    table = data.get("columns", data)
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise ConfigurationError(
            _('The mapping {path} must hold lines like "Column header" = "name".').format(
                path=source
            )
        )
    return dict(table)


def _columns(
    headers: list[str],
    defaults: Mapping[str, str],
    mapping: Mapping[str, str] | None,
    allowed: tuple[str, ...],
) -> tuple[dict[str, int], list[tuple[str, str]], list[str]]:
    """Which column holds which field: {field: index}, the pairs used, the columns ignored."""
    keys = [_header_key(h) for h in headers]
    chosen: dict[int, str] = {}
    for index, key in enumerate(keys):
        if key in defaults:
            chosen[index] = defaults[key]
    if "last_name" in chosen.values():
        for index, key in enumerate(keys):
            if chosen.get(index) == "name" and key in _GIVEN_NAME_HEADERS:
                chosen[index] = "first_name"
    for column, field in (mapping or {}).items():
        if field not in (*allowed, IGNORE):
            raise ConfigurationError(
                _("The mapping names the field {field!r}: use one of {fields}.").format(
                    field=field, fields=", ".join((*allowed, IGNORE))
                )
            )
        wanted = _header_key(column)
        matches = [i for i, h in enumerate(headers) if h == column] or [
            i for i, key in enumerate(keys) if key == wanted
        ]
        if not matches:
            raise ConfigurationError(
                _("The file has no column {column!r}; its columns are: {columns}.").format(
                    column=column, columns=", ".join(headers)
                )
            )
        for index in matches:
            chosen[index] = field
    by_field: dict[str, int] = {}
    for index, field in sorted(chosen.items()):
        if field == IGNORE:
            continue
        if field in by_field:
            raise ConfigurationError(
                _(
                    "Two columns hold the {field}: {first!r} and {second!r}. Map one of them."
                ).format(field=field, first=headers[by_field[field]], second=headers[index])
            )
        by_field[field] = index
    used = [(headers[i], f) for f, i in sorted(by_field.items(), key=lambda item: item[1])]
    ignored = [h for i, h in enumerate(headers) if i not in by_field.values()]
    return by_field, used, ignored


def _cell(cells: list[str], by_field: dict[str, int], field: str) -> str:
    index = by_field.get(field)
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- attendees ----------------------------------------------------------------------------------

#: The attendee columns an import compares and writes.
_DATA = ("name", "email", "company", "field", "tags", "registered_via")


@dataclass(slots=True)
class _Row:
    line: int
    target: int | None
    values: dict[str, Any]
    """The columns this row sets (only the fields the file has)."""


def _existing(conn: Connection) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        select(
            attendee_t.c.id,
            attendee_t.c.code,
            attendee_t.c.email,
            attendee_t.c.name,
            attendee_t.c.company,
            attendee_t.c.field,
            attendee_t.c.tags,
            attendee_t.c.registered_via,
        )
    ).mappings()
    return {int(r["id"]): dict(r) for r in rows}


def _tags(text: str) -> str:
    seen = dict.fromkeys(t.strip().casefold() for t in _TAG_SPLIT.split(text) if t.strip())
    return ";".join(seen)[:500]


def import_attendees(
    store: Store,
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    actor: Actor,
) -> ImportReport:
    """Import (or re-import) the registration list from a CSV file.

    A row is matched to an existing attendee by its invitation code, else by its e-mail; a
    new person gets a fresh code (unless the file has one), an account and search keys. Only
    the columns the file has are compared and written. Rejected, with the line: a row without
    a name, without an e-mail or code, with a malformed e-mail or code, with an e-mail or code
    already on an earlier line, with a field the event does not know, or whose e-mail belongs
    to someone else. Written in batches of :data:`BATCH_ROWS` rows, each its own transaction,
    so stations keep working during a long import; ``progress(done, total)`` after each batch.

    Raises:
        ConfigurationError: the file cannot be read, or its columns cannot be told apart.
    """
    table = _read_table(path)
    by_field, used, ignored = _columns(table.headers, _ATTENDEE_HEADERS, mapping, ATTENDEE_FIELDS)
    if "name" not in by_field and not {"first_name", "last_name"} & by_field.keys():
        raise ConfigurationError(
            _(
                "Cannot tell which column holds the name (columns: {columns}). Map it, e.g. "
                '--column "{example}=name".'
            ).format(columns=", ".join(table.headers), example=table.headers[0])
        )
    if "email" not in by_field and "code" not in by_field:
        raise ConfigurationError(
            _(
                "The file needs an e-mail or a code column to recognise people on the next "
                "import (columns: {columns})."
            ).format(columns=", ".join(table.headers))
        )
    present = {f for f in _DATA if f in by_field} | {"name"}
    with store.db.read() as conn:
        existing = _existing(conn)
        fields = known_fields(conn)
    by_code = {r["code"]: i for i, r in existing.items()}
    by_email = {r["email"]: i for i, r in existing.items() if r["email"]}

    rejected: list[RejectedRow] = []
    creates: list[_Row] = []
    updates: list[_Row] = []
    unchanged = 0
    seen_ids: set[int] = set()
    email_lines: dict[str, int] = {}
    code_lines: dict[str, int] = {}
    for line, cells in table.records:
        name = _one_line(_cell(cells, by_field, "name"))
        if not name:
            name = _one_line(
                f"{_cell(cells, by_field, 'first_name')} {_cell(cells, by_field, 'last_name')}"
            )
        raw_email = _cell(cells, by_field, "email").strip()
        email = raw_email.casefold() or None
        raw_code = _cell(cells, by_field, "code").strip()

        def reject(
            reason: str, _line: int = line, _name: str = name, _email: str = raw_email
        ) -> None:
            rejected.append(RejectedRow(_line, reason, _name, _email))

        if any(cell.strip() for cell in cells[len(table.headers) :]):
            reject(
                _(
                    "the row has {cells} cells but the header {columns} columns (a '{sep}' "
                    "inside a cell that is not in quotes?)"
                ).format(cells=len(cells), columns=len(table.headers), sep=table.delimiter)
            )
            continue

        code = normalise_code(raw_code) if raw_code else None
        target = by_code.get(code) if code else None
        by_mail = by_email.get(email) if email else None
        if target is not None:
            seen_ids.add(target)
        elif by_mail is not None:
            seen_ids.add(by_mail)
        if raw_code and code is None:
            reject(_("the code {code!r} is not an invitation code").format(code=raw_code))
            continue
        if not name:
            reject(_("no name"))
            continue
        if email is None and code is None:
            reject(_("no e-mail and no code: the person could not be recognised next time"))
            continue
        if email is not None and not valid_email(email):
            reject(_("{email!r} is not an e-mail address").format(email=raw_email))
            continue
        if email is not None and email in email_lines:
            reject(
                _("the e-mail {email} is already on line {line}").format(
                    email=email, line=email_lines[email]
                )
            )
            continue
        if code is not None and code in code_lines:
            reject(
                _("the code {code} is already on line {line}").format(
                    code=code, line=code_lines[code]
                )
            )
            continue
        if code is not None and target is None and by_mail is not None:
            reject(
                _("{email} is registered with the code {other}, not {code}").format(
                    email=email, other=existing[by_mail]["code"], code=code
                )
            )
            continue
        if target is not None and by_mail is not None and by_mail != target:
            other = existing[by_mail]
            reject(
                _("the e-mail {email} belongs to {name} ({code})").format(
                    email=email, name=other["name"], code=other["code"]
                )
            )
            continue
        if len(name) > 200:
            reject(_("the name is longer than 200 characters"))
            continue
        values: dict[str, Any] = {"name": name}
        if "email" in present and email is not None:
            values["email"] = email
        if "company" in present:
            values["company"] = _one_line(_cell(cells, by_field, "company"))[:200]
        if "field" in present:
            raw_field = _cell(cells, by_field, "field").strip()
            spelled = normalise_field(fields, raw_field) if fields else (raw_field or OTHER_FIELD)
            if spelled is None:
                reject(
                    _("the field {field!r} is unknown: the event has {fields}").format(
                        field=raw_field, fields=", ".join(sorted(fields.values()))
                    )
                )
                continue
            values["field"] = spelled[:40]
        if "tags" in present:
            values["tags"] = _tags(_cell(cells, by_field, "tags"))
        if "registered_via" in present:
            values["registered_via"] = _one_line(_cell(cells, by_field, "registered_via"))[:40]
        if email is not None:
            email_lines[email] = line
        if code is not None:
            code_lines[code] = line
        target = target if target is not None else by_mail
        if target is None:
            values.setdefault("code", code)
            creates.append(_Row(line, None, values))
            continue
        old = existing[target]
        if any(old[key] != value for key, value in values.items()):
            updates.append(_Row(line, target, values))
        else:
            unchanged += 1

    total = len(creates) + len(updates)
    done = 0
    created = updated = 0
    if progress is not None:
        progress(0, total)
    taken_codes = set(by_code)
    with correlation(actor.correlation_id):
        for start in range(0, max(len(creates), len(updates)), BATCH_ROWS):
            batch_creates = creates[start : start + BATCH_ROWS]
            batch_updates = updates[start : start + BATCH_ROWS]
            for row in batch_creates:
                if row.values.get("code") is None:
                    row.values["code"] = _fresh_code(taken_codes)
                taken_codes.add(row.values["code"])
            made, failed = _write_batch(store, actor, batch_creates, batch_updates, existing)
            created += made
            updated += len(batch_updates)
            rejected.extend(failed)
            done += len(batch_creates) + len(batch_updates)
            if progress is not None:
                progress(done, total)
    missing = tuple(
        MissingPerson(i, r["name"], r["email"], r["code"], r["registered_via"])
        for i, r in sorted(existing.items(), key=lambda item: (item[1]["name"], item[0]))
        if i not in seen_ids
    )
    report = ImportReport(
        rows=len(table.records),
        created=created,
        updated=updated,
        unchanged=unchanged,
        rejected=tuple(sorted(rejected, key=lambda r: r.line)),
        missing_from_file=missing,
        columns=tuple(used),
        ignored_columns=tuple(ignored),
        delimiter=table.delimiter,
        encoding=table.encoding,
    )
    if report.changed or report.rejected:
        with store.db.write() as conn:
            store.audit(
                conn,
                actor,
                store.db.now(conn),
                "import_attendees",
                Path(path).name,
                created=created,
                updated=updated,
                unchanged=unchanged,
                rejected=len(report.rejected),
                missing=len(missing),
            )
    if created > 1000:
        store.db.analyze()  # stations plan their lookups for the table as it now is
    return report


def _fresh_code(taken: set[str]) -> str:
    while True:
        code = new_code()
        if code not in taken:
            return code


_UPDATE_ATTENDEE = (
    update(attendee_t)
    .where(attendee_t.c.id == bindparam("p_id"))
    .values({name: bindparam(f"v_{name}") for name in _DATA})
)


def _write_batch(
    store: Store,
    actor: Actor,
    creates: list[_Row],
    updates: list[_Row],
    existing: dict[int, dict[str, Any]],
) -> tuple[int, list[RejectedRow]]:
    """Write one batch in one transaction; returns (created, rows that failed)."""
    try:
        with store.db.write() as conn:
            now = store.db.now(conn)
            _insert_people(conn, now, creates)
            _update_people(conn, updates, existing)
            store.advance(conn, actor.station)
        return len(creates), []
    except IntegrityError:
        pass
    # Someone registered the same e-mail or code at a desk while the file was read: write the
    # batch again row by row and report the ones that clash.
    failed: list[RejectedRow] = []
    made = 0
    for row in creates:
        try:
            with store.db.write() as conn:
                _insert_people(conn, store.db.now(conn), [row])
                store.advance(conn, actor.station)
            made += 1
        except IntegrityError:
            failed.append(
                RejectedRow(
                    row.line,
                    _("registered at a desk while the file was imported: import it again"),
                    row.values["name"],
                    row.values.get("email") or "",
                )
            )
    for row in updates:
        try:
            with store.db.write() as conn:
                _update_people(conn, [row], existing)
                store.advance(conn, actor.station)
        except IntegrityError:
            failed.append(
                RejectedRow(
                    row.line,
                    _("the e-mail was given to someone else while the file was imported"),
                    row.values["name"],
                    row.values.get("email") or "",
                )
            )
    return made, failed


def _insert_people(conn: Connection, now: datetime, rows: list[_Row]) -> None:
    if not rows:
        return
    params = [
        {
            "code": row.values["code"],
            "name": row.values["name"],
            "email": row.values.get("email"),
            "company": row.values.get("company", ""),
            "field": row.values.get("field", OTHER_FIELD),
            "tags": row.values.get("tags", ""),
            "registered_via": row.values.get("registered_via", "import"),
            "colour": None,
            "active": True,
            "created_at": now,
        }
        for row in rows
    ]
    # A plain executemany, then the ids by code (unique): RETURNING with the parameter order
    # kept makes SQLAlchemy send SQLite one INSERT per row, several times slower.
    conn.execute(insert(attendee_t), params)
    id_by_code: dict[str, int] = {}
    for chunk in _chunks([p["code"] for p in params]):
        id_by_code.update(
            (code, int(i))
            for code, i in conn.execute(
                select(attendee_t.c.code, attendee_t.c.id).where(attendee_t.c.code.in_(chunk))
            )
        )
    ids = [id_by_code[p["code"]] for p in params]
    conn.execute(
        insert(account_t),
        [{"kind": "attendee", "attendee_id": i, "balance": 0, "floor": 0} for i in ids],
    )
    index_attendees(
        conn,
        (
            (i, p["name"], p["email"], p["company"], p["code"])
            for i, p in zip(ids, params, strict=True)
        ),
    )


def _update_people(conn: Connection, rows: list[_Row], existing: dict[int, dict[str, Any]]) -> None:
    if not rows:
        return
    params = []
    rekey = []
    for row in rows:
        assert row.target is not None
        merged = {**existing[row.target], **row.values}
        params.append({"p_id": row.target, **{f"v_{k}": merged[k] for k in _DATA}})
        old = existing[row.target]
        if any(old[k] != merged[k] for k in ("name", "email", "company")):
            rekey.append(
                (row.target, merged["name"], merged["email"], merged["company"], old["code"])
            )
    conn.execute(_UPDATE_ATTENDEE, params)
    if rekey:
        index_attendees(conn, rekey, replace=True)


# -- pre-event points -------------------------------------------------------------------------


def _chunks(items: list[Any], size: int = 900) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_points(
    store: Store, path: str | Path, actor: Actor, *, mapping: dict[str, str] | None = None
) -> PointsImportReport:
    """Import points earned before the event (columns: e-mail or code, reason, points, external id).

    Idempotent by the external id (unique in the database): a row imported before is counted,
    not stored again; one imported before with another person or amount is rejected, never
    changed. New rows wait in ``pending_points`` and are posted when the band is bound; for an
    attendee who already wears a band they are posted at once, as one transfer per attendee.
    One operation: a retry with the same operation id returns the first report.

    Raises:
        ConfigurationError: the file cannot be read, or its columns cannot be told apart.
    """
    table = _read_table(path)
    by_field, _used, _ignored = _columns(table.headers, _POINTS_HEADERS, mapping, POINTS_FIELDS)
    missing = [f for f in ("points", "external_id") if f not in by_field]
    if "email" not in by_field and "code" not in by_field:
        missing.insert(0, "email")
    if missing:
        raise ConfigurationError(
            _("The points file needs the columns {needed} (it has: {columns}).").format(
                needed=", ".join(missing), columns=", ".join(table.headers)
            )
        )
    name = Path(path).name

    def work(conn: Connection, now: datetime) -> PointsImportReport:
        parsed: list[dict[str, Any]] = []
        rejected: list[RejectedRow] = []
        for line, cells in table.records:
            parsed.append(
                {
                    "line": line,
                    "email": _cell(cells, by_field, "email").strip().casefold() or None,
                    "code": normalise_code(_cell(cells, by_field, "code")),
                    "raw_code": _cell(cells, by_field, "code").strip(),
                    "reason": _one_line(_cell(cells, by_field, "reason"))[:200],
                    "points": _cell(cells, by_field, "points").strip(),
                    "external_id": _cell(cells, by_field, "external_id").strip(),
                }
            )
        emails = sorted({p["email"] for p in parsed if p["email"]})
        codes = sorted({p["code"] for p in parsed if p["code"]})
        ext_ids = sorted({p["external_id"] for p in parsed if p["external_id"]})
        people: dict[int, str] = {}
        id_by_email: dict[str, int] = {}
        id_by_code: dict[str, int] = {}
        for chunk in _chunks(emails):
            for row in conn.execute(
                select(attendee_t.c.id, attendee_t.c.email, attendee_t.c.name).where(
                    attendee_t.c.email.in_(chunk)
                )
            ):
                id_by_email[row.email] = row.id
                people[row.id] = row.name
        for chunk in _chunks(codes):
            for row in conn.execute(
                select(attendee_t.c.id, attendee_t.c.code, attendee_t.c.name).where(
                    attendee_t.c.code.in_(chunk)
                )
            ):
                id_by_code[row.code] = row.id
                people[row.id] = row.name
        before: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(ext_ids):
            for row in conn.execute(
                select(pending_t.c.external_id, pending_t.c.attendee_id, pending_t.c.points).where(
                    pending_t.c.external_id.in_(chunk)
                )
            ):
                before[row.external_id] = (row.attendee_id, row.points)

        new_rows: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        already = 0
        for p in parsed:
            line = p["line"]
            who = p["email"] or p["raw_code"]

            def reject(reason: str, _line: int = line, _who: str = who or "") -> None:
                rejected.append(RejectedRow(_line, reason, "", _who))

            ext = p["external_id"]
            if not ext:
                reject(_("no external id: it is what makes a second import safe"))
                continue
            if len(ext) > 120:
                reject(_("the external id is longer than 120 characters"))
                continue
            if ext in seen:
                reject(
                    _("the external id {id} is already on line {line}").format(
                        id=ext, line=seen[ext]
                    )
                )
                continue
            seen[ext] = line
            try:
                points = int(p["points"])
            except ValueError:
                points = 0
            if points <= 0:
                reject(
                    _("{points!r} is not a whole number of points above zero").format(
                        points=p["points"]
                    )
                )
                continue
            if p["raw_code"] and p["code"] is None:
                reject(_("the code {code!r} is not an invitation code").format(code=p["raw_code"]))
                continue
            by_code = id_by_code.get(p["code"]) if p["code"] else None
            by_mail = id_by_email.get(p["email"]) if p["email"] else None
            if p["code"] and by_code is None:
                reject(_("nobody has the invitation code {code}").format(code=p["code"]))
                continue
            if p["email"] and by_mail is None and by_code is None:
                reject(_("nobody is registered with {email}").format(email=p["email"]))
                continue
            if not p["code"] and not p["email"]:
                reject(_("no e-mail and no code: whose points are these?"))
                continue
            if by_code is not None and by_mail is not None and by_code != by_mail:
                reject(_("the e-mail and the code belong to two different people"))
                continue
            attendee_id = by_code if by_code is not None else by_mail
            assert attendee_id is not None
            if ext in before:
                if before[ext] == (attendee_id, points):
                    already += 1
                else:
                    reject(
                        _(
                            "the external id {id} was imported before with {points} points for "
                            "{name}; it is not changed"
                        ).format(
                            id=ext, points=before[ext][1], name=people.get(before[ext][0], "?")
                        )
                    )
                continue
            new_rows.append(
                {
                    "attendee_id": attendee_id,
                    "external_id": ext,
                    "reason": p["reason"],
                    "points": points,
                    "posted_op_id": None,
                    "created_at": now,
                }
            )
        if new_rows:
            conn.execute(insert(pending_t), new_rows)
        posted_now, attendees_posted = _post_for_bound(
            conn, actor, now, sorted({r["attendee_id"] for r in new_rows})
        )
        total_points = sum(r["points"] for r in new_rows)
        store.audit(
            conn,
            actor,
            now,
            "import_points",
            name,
            imported=len(new_rows),
            points=total_points,
            posted_now=posted_now,
            rejected=len(rejected),
        )
        return PointsImportReport(
            rows=len(table.records),
            imported=len(new_rows),
            points_imported=total_points,
            already_imported=already,
            posted_now=posted_now,
            attendees_posted=attendees_posted,
            rejected=tuple(rejected),
        )

    return store.run(actor, "import_points", work, PointsImportReport)


_TAKE_WAITING = (
    update(pending_t)
    .where(pending_t.c.attendee_id == bindparam("p_attendee"), pending_t.c.posted_op_id.is_(None))
    .values(posted_op_id=bindparam("p_op"))
    .returning(pending_t.c.points)
)


def _post_for_bound(
    conn: Connection, actor: Actor, now: datetime, attendee_ids: list[int]
) -> tuple[int, int]:
    """Post the waiting points of those of ``attendee_ids`` who already wear a band."""
    bound: list[tuple[int, int]] = []
    for chunk in _chunks(attendee_ids):
        bound.extend(
            (int(r.attendee_id), int(r.id))
            for r in conn.execute(
                select(band_t.c.attendee_id, account_t.c.id)
                .join(account_t, account_t.c.attendee_id == band_t.c.attendee_id)
                .where(band_t.c.state == "active", band_t.c.attendee_id.in_(chunk))
                .order_by(band_t.c.attendee_id)
            )
        )
    posted = 0
    issuer = system_account_id(conn, "issuer", actor.station) if bound else 0
    for seq, (attendee_id, account_id) in enumerate(bound):
        points = sum(
            int(p)
            for p in conn.execute(
                _TAKE_WAITING, {"p_attendee": attendee_id, "p_op": actor.op_id}
            ).scalars()
        )
        if points:
            post_transfer(
                conn,
                actor,
                now,
                debit=issuer,
                credit=account_id,
                amount=points,
                code="pre-event",
                reference="pre-event: imported for a bound band",
                seq=seq,
            )
            posted += points
    return posted, len(bound)


def describe(report: ImportReport | PointsImportReport) -> str:
    """The report as JSON, for ``--json`` output and logs."""
    return json.dumps(json.loads(codec.dump(report)), ensure_ascii=False, indent=2)
