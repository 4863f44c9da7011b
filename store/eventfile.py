"""The event file: one TOML file that describes the event, and its idempotent loader.

An organiser writes the event (hubs and their activities, stages, talks and quiz questions,
prizes and their stock, wristband colours, coat racks, staff, budgets and limits) in one TOML
file and loads it with ``tapdesk event load FILE``. Every entry carries a stable ``id``; loading
the same file again changes nothing, an edited entry is updated in place, and an entry that has
gone from the file is deactivated, never deleted: points, prizes and coats keep pointing at it.

The file is validated completely before anything is written, and every problem is reported
at once with its key path (``hubs[2].activities[0].points``), so one round of fixes is enough.

A short example (``store/demo/event.toml`` is a complete one)::

    [event]
    id = "makeitreal-2026"
    name = "Make IT Real 2026"
    timezone = "Asia/Almaty"

    [[hubs]]
    id = "qa"
    name = "Quality assurance"
      [[hubs.activities]]
      id = "qa-bug-hunt"
      name = "Bug hunt"
      points = 20
      max_per_attendee = 1      # omit for no limit
      cooldown_minutes = 0

Talk times may carry an offset (``2026-11-27T10:00:00+05:00``); a time without one is read in the
event's time zone.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.exc import DBAPIError

from store.context import Actor, correlation
from store.engine import unavailable
from store.errors import ConfigurationError, Refused
from store.i18n import _, ngettext
from store.models import (
    Activity,
    Band,
    ColourGroup,
    Event,
    Hub,
    Prize,
    QuizQuestion,
    Rack,
    StaffMember,
    Stage,
    Talk,
)
from store.security import check_pin_hash

if TYPE_CHECKING:
    from store.service import Store

__all__ = [
    "COLOUR_GROUPS",
    "ROLES",
    "ActivitySpec",
    "ColourGroupSpec",
    "ColoursSpec",
    "CreditSpec",
    "CreditWeightsSpec",
    "EventFileError",
    "EventInfo",
    "EventSpec",
    "HubSpec",
    "LimitsSpec",
    "LoadReport",
    "PrizeSpec",
    "QuestionSpec",
    "RackSpec",
    "SocialSpec",
    "StaffSpec",
    "StageSpec",
    "TalkSpec",
    "apply_event",
    "load_event",
    "parse_event_file",
]

log = logging.getLogger("tapdesk.store")

#: The staff roles a station can be opened in.
ROLES = ("desk", "bands", "hub", "counter", "coats", "organiser")

#: How many wristband colours an event has.
COLOUR_GROUPS = 4

#: How errors name an event that was built in code rather than read from a file.
SPEC_SOURCE = "<event spec>"

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_HEX = re.compile(r"[0-9A-F]+")
_UID_LENGTHS = (8, 14, 20)
_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")

stage_t: Table = Stage.__table__  # type: ignore[attr-defined]
hub_t: Table = Hub.__table__  # type: ignore[attr-defined]
activity_t: Table = Activity.__table__  # type: ignore[attr-defined]
talk_t: Table = Talk.__table__  # type: ignore[attr-defined]
question_t: Table = QuizQuestion.__table__  # type: ignore[attr-defined]
prize_t: Table = Prize.__table__  # type: ignore[attr-defined]
colour_t: Table = ColourGroup.__table__  # type: ignore[attr-defined]
rack_t: Table = Rack.__table__  # type: ignore[attr-defined]
staff_t: Table = StaffMember.__table__  # type: ignore[attr-defined]
event_t: Table = Event.__table__  # type: ignore[attr-defined]
band_t: Table = Band.__table__  # type: ignore[attr-defined]


# -- errors -----------------------------------------------------------------------------------


class EventFileError(ConfigurationError):
    """The event file cannot be used; the message lists every problem, one per line.

    Attributes:
        source: the file (or ``<event spec>`` for a spec built in code).
        problems: one line per problem, each starting with its key path (or line number).
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        header = ngettext(
            "The event file {file} has a problem:",
            "The event file {file} has {count} problems:",
            count,
        ).format(file=source, count=count)
        super().__init__("\n".join([header, *(f"  {line}" for line in self.problems)]))


class _Problems(Exception):
    """Cross-checks that failed, with their key paths.

    Deliberately not a ValueError: pydantic lets other exceptions through unchanged, so every
    problem keeps its own path instead of being folded into one error at the root.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


# -- field types ------------------------------------------------------------------------------


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(
            _(
                "{value!r} is not a valid id: use 1-64 lower-case letters, digits, '-' or '_', "
                "starting with a letter or a digit"
            ).format(value=value)
        )
    return value


def _check_label(value: str) -> str:
    if ";" in value:
        raise ValueError(_("{value!r} must not contain ';'").format(value=value))
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            _(
                "unknown time zone {value!r}: use an IANA name such as Asia/Almaty or Europe/Moscow"
            ).format(value=value)
        ) from None
    return value


def _only_text_or_datetime(value: Any) -> Any:
    # Pydantic would also take a number as seconds since 1970: in a file typed by people that
    # is a mistake, not a time.
    if not isinstance(value, str | datetime):
        raise ValueError(_("must be a date and time such as 2026-11-27T10:00:00+05:00"))
    return value


Id = Annotated[str, StringConstraints(strict=True), AfterValidator(_check_id)]
Name = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200)
]
Title = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=300)
]
Text = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=1000)
]
Label = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=40),
    AfterValidator(_check_label),
]
Positive = Annotated[int, Field(strict=True, gt=0)]
NonNegative = Annotated[int, Field(strict=True, ge=0)]
When = Annotated[datetime, BeforeValidator(_only_text_or_datetime)]
Role = Literal["desk", "bands", "hub", "counter", "coats", "organiser"]


class _Spec(BaseModel):
    # Every table refuses keys it does not know: a misspelt key must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


# -- the file's sections ----------------------------------------------------------------------


class EventInfo(_Spec):
    """The ``[event]`` table: which event this is."""

    id: Id
    name: Name
    timezone: Annotated[str, StringConstraints(strict=True), AfterValidator(_check_timezone)]


class LimitsSpec(_Spec):
    """The ``[limits]`` table: budgets and rate limits (the defaults are the designed event's)."""

    cool_daily_budget: Positive = 200
    """Points one hubman may award "for being cool" per event day."""
    cool_rate_per_minute: Positive = 3
    """"Cool" awards one staff member may make per minute."""
    undo_minutes_hub: NonNegative = 2
    """How long a hub award can be undone at the hub."""
    undo_minutes_desk: NonNegative = 15
    """How long a desk operation can be undone at the desk."""


Weight = Annotated[float, Field(strict=False, ge=0, allow_inf_nan=False)]


def _number_not_bool(value: Any) -> Any:
    # TOML has real numbers; a boolean or a string is a mistake, not a weight.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(_("must be a number such as 0.5 or 10"))
    return value


Number = Annotated[Weight, BeforeValidator(_number_not_bool)]


class CreditWeightsSpec(_Spec):
    """The ``[credit.weights]`` table: how much each part of the history counts in the score."""

    points_per_hour: Number = 0.1
    """Per point earned per hour since check-in."""
    hubs_visited: Number = 10.0
    """Per distinct hub where the attendee earned points."""
    paid_on_time: Number = 15.0
    """Per instalment collected on its first try (never overdue)."""


class CreditSpec(_Spec):
    """The ``[credit]`` table: pay in four (buy now, pay later in points)."""

    instalments: Annotated[int, Field(strict=True, ge=1, le=12)] = 4
    """How many instalments a plan has (the first is paid at once)."""
    interval_minutes: Positive = 90
    """Minutes between one instalment's due time and the next."""
    limit: NonNegative = 1200
    """Most points an attendee may owe on all their plans (what is not yet paid)."""
    threshold: Number = 50.0
    """The lowest score that may take a plan."""
    min_hours: Annotated[
        float, Field(strict=False, gt=0, allow_inf_nan=False), BeforeValidator(_number_not_bool)
    ] = 1.0
    """Hours since check-in are counted as at least this (no division blow-up early on)."""
    weights: CreditWeightsSpec = Field(default_factory=CreditWeightsSpec)


class ActivitySpec(_Spec):
    """An activity at a hub (``[[hubs.activities]]``)."""

    id: Id
    name: Name
    points: Positive
    max_per_attendee: Positive | None = None
    """How often one attendee can earn it; 1 is once per attendee, omitted is no limit."""
    cooldown_minutes: NonNegative = 0


class HubSpec(_Spec):
    """A themed hub (``[[hubs]]``)."""

    id: Id
    name: Name
    tags: list[Label] = []
    activities: list[ActivitySpec] = []


class StageSpec(_Spec):
    """A stage (``[[stages]]``)."""

    id: Id
    name: Name


class QuestionSpec(_Spec):
    """A quiz question on a talk (``[[talks.questions]]``)."""

    id: Id
    text: Text
    answer: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, max_length=1000)
    ] = ""
    """The expected answer, shown to staff only."""
    points: Positive


class TalkSpec(_Spec):
    """A talk (``[[talks]]``); ``start`` and ``end`` without an offset are in the event's zone."""

    id: Id
    stage: Id
    title: Title
    speaker: Name
    start: When
    end: When
    tags: list[Label] = []
    questions: list[QuestionSpec] = []


class PrizeSpec(_Spec):
    """A prize at the counter (``[[prizes]]``).

    ``supplied`` is how many were delivered to the counter; what is left is derived from the
    redemptions, so a reload never resets sales.
    """

    id: Id
    name: Name
    tier: Positive
    price: Positive
    supplied: NonNegative
    per_person: Positive = 1
    pay_in_four: Annotated[bool, Field(strict=True)] = False


class ColourGroupSpec(_Spec):
    """One wristband colour and the attendee fields it stands for (``[[colours.groups]]``)."""

    id: Id
    name: Name
    name_ru: Name | None = None
    hex: Annotated[str, StringConstraints(strict=True, pattern=_HEX_COLOUR.pattern)]
    fields: list[Label] = []

    @field_validator("hex")
    @classmethod
    def _upper_hex(cls, value: str) -> str:
        return value.upper()


class ColoursSpec(_Spec):
    """The ``[colours]`` table: exactly four groups and the colour of unmatched fields."""

    default: Id
    groups: list[ColourGroupSpec]


class RackSpec(_Spec):
    """A coat rack (``[[racks]]``)."""

    id: Id
    name: Name
    capacity: Positive


class StaffSpec(_Spec):
    """A member of staff (``[[staff]]``): signs in with a PIN, a staff band, or either."""

    id: Id
    name: Name
    roles: Annotated[list[Role], Field(min_length=1)]
    hubs: list[Id] = []
    """The hubs a hubman keeps (needs the ``hub`` role)."""
    pin_hash: Annotated[str, StringConstraints(strict=True, strip_whitespace=True)] | None = None
    band_uid: Annotated[str, StringConstraints(strict=True)] | None = None
    attendee_code: (
        Annotated[
            str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=32)
        ]
        | None
    ) = None

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, roles: list[Role]) -> list[Role]:
        return list(dict.fromkeys(roles))

    @field_validator("pin_hash")
    @classmethod
    def _well_formed_hash(cls, value: str | None) -> str | None:
        if value is not None:
            check_pin_hash(value)
        return value

    @field_validator("band_uid")
    @classmethod
    def _normalised_uid(cls, value: str | None) -> str | None:
        # Same rule as the readers (hardware.uid, which store may not import): upper-case hex
        # without separators, 4, 7 or 10 bytes.
        if value is None:
            return None
        uid = value.strip().upper()
        for sep in (":", "-", " "):
            uid = uid.replace(sep, "")
        if not _HEX.fullmatch(uid) or len(uid) not in _UID_LENGTHS:
            raise ValueError(
                _("{value!r} is not a band UID: give 8, 14 or 20 hex digits").format(value=value)
            )
        return uid


class SocialSpec(_Spec):
    """The ``[social]`` table: points for posting about the event on social media."""

    points: Positive
    max_per_attendee: Positive = 1


class EventSpec(_Spec):
    """The whole event file, validated: ids unique per kind, references resolved."""

    event: EventInfo
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    hubs: list[HubSpec] = []
    stages: list[StageSpec] = []
    talks: list[TalkSpec] = []
    prizes: list[PrizeSpec] = []
    colours: ColoursSpec
    racks: list[RackSpec] = []
    staff: list[StaffSpec] = []
    social: SocialSpec | None = None
    credit: CreditSpec = Field(default_factory=CreditSpec)

    @model_validator(mode="after")
    def _cross_check(self) -> EventSpec:
        zone = ZoneInfo(self.event.timezone)
        for talk in self.talks:
            # A time without an offset is local time at the event.
            if talk.start.tzinfo is None:
                talk.start = talk.start.replace(tzinfo=zone)
            if talk.end.tzinfo is None:
                talk.end = talk.end.replace(tzinfo=zone)
        problems: list[tuple[str, str]] = []
        problems += _duplicates("hubs", ((f"hubs[{i}]", h.id) for i, h in enumerate(self.hubs)))
        problems += _duplicates(
            "activities",
            (
                (f"hubs[{i}].activities[{j}]", a.id)
                for i, h in enumerate(self.hubs)
                for j, a in enumerate(h.activities)
            ),
        )
        problems += _duplicates(
            "stages", ((f"stages[{i}]", s.id) for i, s in enumerate(self.stages))
        )
        problems += _duplicates("talks", ((f"talks[{i}]", t.id) for i, t in enumerate(self.talks)))
        problems += _duplicates(
            "questions",
            (
                (f"talks[{i}].questions[{j}]", q.id)
                for i, t in enumerate(self.talks)
                for j, q in enumerate(t.questions)
            ),
        )
        problems += _duplicates(
            "prizes", ((f"prizes[{i}]", p.id) for i, p in enumerate(self.prizes))
        )
        problems += _duplicates(
            "colour groups",
            ((f"colours.groups[{i}]", g.id) for i, g in enumerate(self.colours.groups)),
        )
        problems += _duplicates("racks", ((f"racks[{i}]", r.id) for i, r in enumerate(self.racks)))
        problems += _duplicates("staff", ((f"staff[{i}]", s.id) for i, s in enumerate(self.staff)))
        problems += self._check_talks()
        problems += self._check_colours()
        problems += self._check_staff()
        if problems:
            raise _Problems(problems)
        return self

    def _check_talks(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        stages = {stage.id for stage in self.stages}
        by_stage: dict[str, list[tuple[int, TalkSpec]]] = defaultdict(list)
        for i, talk in enumerate(self.talks):
            if talk.stage not in stages:
                problems.append(
                    (
                        f"talks[{i}].stage",
                        _("no stage has the id {stage!r} (known: {known})").format(
                            stage=talk.stage, known=", ".join(sorted(stages)) or "-"
                        ),
                    )
                )
            if talk.end <= talk.start:
                problems.append(
                    (
                        f"talks[{i}].end",
                        _("the talk ends ({end}) before it starts ({start})").format(
                            end=talk.end.isoformat(), start=talk.start.isoformat()
                        ),
                    )
                )
                continue
            by_stage[talk.stage].append((i, talk))
        for talks in by_stage.values():
            talks.sort(key=lambda item: item[1].start)
            for (_i, before), (j, after) in pairwise(talks):
                if after.start < before.end:
                    problems.append(
                        (
                            f"talks[{j}].start",
                            _(
                                "overlaps talk {other!r} on the same stage (it ends at {end})"
                            ).format(other=before.id, end=before.end.isoformat()),
                        )
                    )
        return problems

    def _check_colours(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        groups = self.colours.groups
        if len(groups) != COLOUR_GROUPS:
            problems.append(
                (
                    "colours.groups",
                    _("there must be exactly {expected} colour groups, not {count}").format(
                        expected=COLOUR_GROUPS, count=len(groups)
                    ),
                )
            )
        owner: dict[str, str] = {}
        for i, group in enumerate(groups):
            for j, field in enumerate(group.fields):
                key = field.casefold()
                if key in owner:
                    problems.append(
                        (
                            f"colours.groups[{i}].fields[{j}]",
                            _(
                                "the field {field!r} is already in the colour group {group!r}"
                            ).format(field=field, group=owner[key]),
                        )
                    )
                else:
                    owner[key] = group.id
        if self.colours.default not in {group.id for group in groups}:
            problems.append(
                (
                    "colours.default",
                    _("no colour group has the id {default!r}").format(
                        default=self.colours.default
                    ),
                )
            )
        return problems

    def _check_staff(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        hubs = {hub.id for hub in self.hubs}
        bands: dict[str, str] = {}
        for i, member in enumerate(self.staff):
            if member.pin_hash is None and member.band_uid is None:
                problems.append(
                    (
                        f"staff[{i}]",
                        _("{id!r} cannot sign in: give a pin_hash, a band_uid or both").format(
                            id=member.id
                        ),
                    )
                )
            if member.band_uid is not None:
                if member.band_uid in bands:
                    problems.append(
                        (
                            f"staff[{i}].band_uid",
                            _("the band {uid} is already given to {other!r}").format(
                                uid=member.band_uid, other=bands[member.band_uid]
                            ),
                        )
                    )
                else:
                    bands[member.band_uid] = member.id
            if member.hubs and "hub" not in member.roles:
                problems.append(
                    (
                        f"staff[{i}].hubs",
                        _("only staff with the role 'hub' keep hubs"),
                    )
                )
            for k, hub in enumerate(member.hubs):
                if hub not in hubs:
                    problems.append(
                        (
                            f"staff[{i}].hubs[{k}]",
                            _("no hub has the id {hub!r}").format(hub=hub),
                        )
                    )
        return problems


def _duplicates(kind: str, entries: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    first: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for path, entry_id in entries:
        if entry_id in first:
            problems.append(
                (
                    f"{path}.id",
                    _("the id {id!r} is used twice among the {kind} (first at {first})").format(
                        id=entry_id, kind=kind, first=first[entry_id]
                    ),
                )
            )
        else:
            first[entry_id] = path
    return problems


# -- parsing ----------------------------------------------------------------------------------


def _key_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or _("(the whole file)")


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return _("required, but missing")
    if kind == "extra_forbidden":
        return _("unknown key (check its spelling and the table it is in)")
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"])
    value = error.get("input")
    if isinstance(value, str | int | float | bool | datetime):
        message = _("{message} (got {value!r})").format(message=message, value=value)
    return message


def _validate(raw: Any, source: str) -> EventSpec:
    try:
        return EventSpec.model_validate(raw)
    except ValidationError as exc:
        raise EventFileError(
            source,
            [f"{_key_path(e['loc'])}: {_describe(e)}" for e in exc.errors(include_url=False)],
        ) from None
    except _Problems as exc:
        raise EventFileError(source, [f"{path}: {what}" for path, what in exc.problems]) from None


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str) -> str:
    message = str(exc)
    found = _TOML_POSITION.search(message)
    reason = message[: found.start()] if found else message
    if found is None:
        return _("TOML syntax error: {reason}").format(reason=reason)
    if found.group(1) is None:
        return _("end of file: TOML syntax error: {reason}").format(reason=reason)
    line, column = int(found.group(1)), int(found.group(2))
    lines = text.splitlines()
    shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    problem = _("line {line}, column {column}: TOML syntax error: {reason}").format(
        line=line, column=column, reason=reason
    )
    if not shown:
        return problem
    if len(shown) > 80:
        shown = shown[:79] + "…"
    return _("{problem}; the line reads: {text}").format(problem=problem, text=shown)


def parse_event_file(path: str | Path) -> EventSpec:
    """Read and validate an event file, writing nothing.

    Args:
        path: the TOML file.

    Returns:
        The validated event.

    Raises:
        EventFileError: the file cannot be read, is not TOML, or describes an event that
            cannot be loaded; the message names the file and lists every problem with its key
            path (or line and column for a syntax error).
    """
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise EventFileError(
            source, [_("cannot read the file: {reason}").format(reason=exc.strerror or exc)]
        ) from None
    except UnicodeDecodeError as exc:
        raise EventFileError(
            source,
            [_("the file is not UTF-8 text (byte {at}): save it as UTF-8").format(at=exc.start)],
        ) from None
    # Windows editors may begin a UTF-8 file with a byte order mark, which TOML does not allow.
    text = text.removeprefix("\ufeff")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EventFileError(source, [_syntax_problem(exc, text)]) from None
    return _validate(raw, source)


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load changed; each entry is "kind id", e.g. "hub qa" or "prize charger".

    A reactivated entry (back in the file after being removed) counts as updated.
    """

    created: tuple[str, ...]
    updated: tuple[str, ...]
    deactivated: tuple[str, ...]
    unchanged: int

    @property
    def changed(self) -> bool:
        """True when the load created, updated or deactivated anything."""
        return bool(self.created or self.updated or self.deactivated)

    def summary(self) -> str:
        """ "no changes", or a few lines saying what changed, grouped by kind."""
        if not self.changed:
            return _("no changes")
        lines = [
            _(
                "{created} created, {updated} updated, {deactivated} deactivated, "
                "{unchanged} unchanged."
            ).format(
                created=len(self.created),
                updated=len(self.updated),
                deactivated=len(self.deactivated),
                unchanged=self.unchanged,
            )
        ]
        for heading, entries in (
            (_("Created:"), self.created),
            (_("Updated:"), self.updated),
            (_("Deactivated:"), self.deactivated),
        ):
            if not entries:
                continue
            lines.append(heading)
            grouped: dict[str, list[str]] = defaultdict(list)
            for entry in entries:
                kind, _sep, entry_id = entry.partition(" ")
                grouped[kind].append(entry_id)
            lines.extend(f"  {kind}: {', '.join(ids)}" for kind, ids in grouped.items())
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Kind:
    """One kind of entry: its table and the rows the file wants, in file order."""

    label: str
    table: Table
    rows: dict[str, dict[str, Any]]


def _joined(values: Iterable[str]) -> str:
    return ";".join(values)


def _kinds(spec: EventSpec) -> list[_Kind]:
    # Parents before children, so that inserts satisfy the foreign keys.
    return [
        _Kind("stage", stage_t, {s.id: {"name": s.name} for s in spec.stages}),
        _Kind("hub", hub_t, {h.id: {"name": h.name, "tags": _joined(h.tags)} for h in spec.hubs}),
        _Kind(
            "activity",
            activity_t,
            {
                a.id: {
                    "hub_id": h.id,
                    "name": a.name,
                    "points": a.points,
                    "max_per_attendee": a.max_per_attendee,
                    "cooldown_minutes": a.cooldown_minutes,
                }
                for h in spec.hubs
                for a in h.activities
            },
        ),
        _Kind(
            "talk",
            talk_t,
            {
                t.id: {
                    "stage_id": t.stage,
                    "title": t.title,
                    "speaker": t.speaker,
                    "starts_at": t.start,
                    "ends_at": t.end,
                    "tags": _joined(t.tags),
                }
                for t in spec.talks
            },
        ),
        _Kind(
            "question",
            question_t,
            {
                q.id: {"talk_id": t.id, "text": q.text, "answer": q.answer, "points": q.points}
                for t in spec.talks
                for q in t.questions
            },
        ),
        _Kind(
            "prize",
            prize_t,
            {
                p.id: {
                    "name": p.name,
                    "tier": p.tier,
                    "price": p.price,
                    "supplied": p.supplied,
                    "per_person": p.per_person,
                    "pay_in_four": p.pay_in_four,
                }
                for p in spec.prizes
            },
        ),
        _Kind(
            "colour",
            colour_t,
            {
                g.id: {
                    "name": g.name,
                    "name_ru": g.name_ru,
                    "hex": g.hex,
                    "fields": _joined(g.fields),
                    "position": position,
                }
                for position, g in enumerate(spec.colours.groups)
            },
        ),
        # Racks fill in file order (``position``); out-of-service state is not in the file, so a
        # reload never touches it.
        _Kind(
            "rack",
            rack_t,
            {
                r.id: {"name": r.name, "capacity": r.capacity, "position": position}
                for position, r in enumerate(spec.racks)
            },
        ),
        _Kind(
            "staff",
            staff_t,
            {
                s.id: {
                    "name": s.name,
                    "roles": _joined(s.roles),
                    "hubs": _joined(s.hubs),
                    "pin_hash": s.pin_hash,
                    "band_uid": s.band_uid,
                    "attendee_code": s.attendee_code,
                }
                for s in spec.staff
            },
        ),
    ]


def _settings(spec: EventSpec) -> dict[str, Any]:
    return {
        "limits": spec.limits.model_dump(),
        "social": spec.social.model_dump() if spec.social else None,
        "credit": spec.credit.model_dump(),
        "colours": {"default": spec.colours.default},
    }


def _check_database(conn: Connection, spec: EventSpec, source: str) -> None:
    """Refuse what the file cannot know is wrong: another event, a staff band already issued."""
    others = [
        row_id for row_id in conn.execute(select(event_t.c.id)).scalars() if row_id != spec.event.id
    ]
    if others:
        raise Refused(
            _(
                "This database belongs to the event {current!r}; the file describes "
                "{new!r}. Use a new database for another event."
            ).format(current=others[0], new=spec.event.id),
            reason="another_event",
        )
    uids = [member.band_uid for member in spec.staff if member.band_uid]
    if uids:
        taken = set(conn.execute(select(band_t.c.uid).where(band_t.c.uid.in_(uids))).scalars())
        problems = [
            f"staff[{i}].band_uid: "
            + _("the band {uid} is already an attendee's band: give staff their own bands").format(
                uid=member.band_uid
            )
            for i, member in enumerate(spec.staff)
            if member.band_uid in taken
        ]
        if problems:
            raise EventFileError(source, problems)


def _load_event_row(conn: Connection, now: datetime, spec: EventSpec) -> str | None:
    """Insert or update the event row; "created", "updated" or None when unchanged."""
    wanted = {"name": spec.event.name, "timezone": spec.event.timezone}
    settings = _settings(spec)
    row = conn.execute(select(event_t).where(event_t.c.id == spec.event.id)).mappings().first()
    stored = json.dumps(settings, ensure_ascii=False, sort_keys=True)
    if row is None:
        conn.execute(
            insert(event_t).values(id=spec.event.id, settings=stored, loaded_at=now, **wanted)
        )
        return "created"
    try:
        current = json.loads(row["settings"] or "{}")
    except ValueError:
        current = None
    if current == settings and all(row[key] == value for key, value in wanted.items()):
        return None
    conn.execute(
        update(event_t)
        .where(event_t.c.id == spec.event.id)
        .values(settings=stored, loaded_at=now, **wanted)
    )
    return "updated"


def apply_event(
    store: Store,
    conn: Connection,
    now: datetime,
    spec: EventSpec,
    actor: Actor,
    *,
    source: str = SPEC_SOURCE,
) -> LoadReport:
    """Load a validated event inside the caller's write transaction.

    For callers that already hold a transaction (the demo build); everyone else calls
    :func:`load_event`. The caller owns the transaction, so it also decides whether to advance
    its station's change counter.

    Args:
        store: the store (for the audit row).
        conn: a connection inside a write transaction.
        now: the database clock, read in that transaction.
        spec: the event, as :func:`parse_event_file` returns it.
        actor: who loads it (the audit row names them).
        source: the file the spec came from, named in error messages.

    Returns:
        What changed.

    Raises:
        Refused: the database belongs to another event.
        EventFileError: a staff band is already an attendee's band.
    """
    _check_database(conn, spec, source)
    created: list[str] = []
    updated: list[str] = []
    deactivated: list[str] = []
    unchanged = 0
    event_label = f"event {spec.event.id}"
    outcome = _load_event_row(conn, now, spec)
    if outcome == "created":
        created.append(event_label)
    elif outcome == "updated":
        updated.append(event_label)
    else:
        unchanged += 1

    kinds = _kinds(spec)
    plans: list[tuple[_Kind, list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]] = []
    for kind in kinds:
        table = kind.table
        existing = {row["id"]: row for row in conn.execute(select(table)).mappings()}
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[str, dict[str, Any]]] = []
        for entry_id, values in kind.rows.items():
            old = existing.get(entry_id)
            if old is None:
                inserts.append({"id": entry_id, **values, "active": True, "updated_at": now})
                created.append(f"{kind.label} {entry_id}")
            elif not old["active"] or any(old[key] != value for key, value in values.items()):
                updates.append((entry_id, values))
                updated.append(f"{kind.label} {entry_id}")
            else:
                unchanged += 1
        gone = sorted(i for i, row in existing.items() if row["active"] and i not in kind.rows)
        if gone:
            # Never deleted: transfers, redemptions and coats still point at these rows.
            conn.execute(
                update(table).where(table.c.id.in_(gone)).values(active=False, updated_at=now)
            )
            deactivated.extend(f"{kind.label} {entry_id}" for entry_id in gone)
        if kind.table is staff_t:
            # A band moving between two staff members: free it first, so that the unique index
            # on active staff bands never sees it twice in the middle of the load.
            moving = [
                entry_id
                for entry_id, values in updates
                if existing[entry_id]["band_uid"] not in (None, values["band_uid"])
            ]
            if moving:
                conn.execute(update(table).where(table.c.id.in_(moving)).values(band_uid=None))
        plans.append((kind, inserts, updates))

    for kind, inserts, updates in plans:
        if inserts:
            conn.execute(insert(kind.table), inserts)
        for entry_id, values in updates:
            conn.execute(
                update(kind.table)
                .where(kind.table.c.id == entry_id)
                .values(**values, active=True, updated_at=now)
            )

    report = LoadReport(
        created=tuple(created),
        updated=tuple(updated),
        deactivated=tuple(deactivated),
        unchanged=unchanged,
    )
    if report.changed:
        store.audit(
            conn,
            actor,
            now,
            "event_load",
            spec.event.id,
            created=report.created,
            updated=report.updated,
            deactivated=report.deactivated,
        )
    return report


def load_event(store: Store, source: str | Path | EventSpec, actor: Actor) -> LoadReport:
    """Load an event file (or an already parsed event) into the database, idempotently.

    Everything is validated before the one write transaction starts; on any error nothing is
    written. Loading the same file twice changes nothing the second time. An entry missing
    from the file is deactivated (never deleted) and reactivated when it comes back. Prize
    stock is only ``supplied``, so a reload never resets what the counter has handed out.

    Args:
        store: the store to load into.
        source: the TOML file, or an :class:`EventSpec`.
        actor: who loads it (named in the audit row).

    Returns:
        What was created, updated and deactivated; ``report.summary()`` says it in words.

    Raises:
        EventFileError: the file is malformed (every problem is listed).
        Refused: the database already belongs to another event.
        DatabaseUnavailable: the database cannot be reached.
    """
    if isinstance(source, EventSpec):
        spec, name = source, SPEC_SOURCE
    else:
        spec, name = parse_event_file(source), str(source)
    with correlation(actor.correlation_id):
        try:
            with store.db.write() as conn:
                now = store.db.now(conn)
                report = apply_event(store, conn, now, spec, actor, source=name)
                if report.changed:
                    # Other stations poll the change counter: a reload must reach their screens.
                    store.advance(conn, actor.station)
        except DBAPIError as exc:
            log.warning("event load failed", exc_info=True)
            raise unavailable(store.db.url, exc) from exc
    log.info(
        "event loaded",
        extra={
            "event_id": spec.event.id,
            "entries_created": len(report.created),
            "entries_updated": len(report.updated),
            "entries_deactivated": len(report.deactivated),
        },
    )
    return report
