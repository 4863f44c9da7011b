"""The event file: parsing, validation messages, the idempotent loader, PIN hashes, the demo."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from store.context import Actor
from store.demo.build import DEMO_EVENT, build_demo
from store.errors import ConfigurationError, Refused
from store.eventfile import ROLES, EventFileError, load_event, parse_event_file
from store.models import Audit, Prize, StaffMember, metadata
from store.security import check_pin_hash, hash_pin, verify_pin
from store.service import Store
from tests.factories import add_attendee

ACTOR = Actor(station="test", staff="tester")
DEMO_TEXT = DEMO_EVENT.read_text(encoding="utf-8")

prize_t = Prize.__table__  # type: ignore[attr-defined]
staff_t = StaffMember.__table__  # type: ignore[attr-defined]
audit_t = Audit.__table__  # type: ignore[attr-defined]


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the audit and station tables included), to compare whole."""
    with store.db.read() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }


def count(store: Store, table: Any, *where: Any) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def write(tmp_path: Path, text: str, name: str = "event.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str, text: str = DEMO_TEXT) -> str:
    """``text`` with the single occurrence of ``old`` replaced (so a test cannot edit nothing)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def without_prize(prize_id: str, text: str = DEMO_TEXT) -> str:
    block = re.compile(r'\[\[prizes\]\]\nid = "' + re.escape(prize_id) + r'"\n(?:[^\n\[]+\n)*\n?')
    assert len(block.findall(text)) == 1
    return block.sub("", text)


# -- the demo event ----------------------------------------------------------------------------


def test_demo_event_parses() -> None:
    spec = parse_event_file(DEMO_EVENT)
    assert spec.event.name == "Make IT Real 2026"
    assert spec.event.timezone == "Asia/Almaty"
    assert [h.name for h in spec.hubs] == [
        "Quality assurance",
        "Backend",
        "Frontend",
        "Info Security",
        "DataBase",
        "Big Data & Machine Learning",
        "Infrastructure",
        "Teams & People",
        "UX & Design",
        "#Sporniy hub",
    ]
    assert all(2 <= len(h.activities) <= 3 for h in spec.hubs)
    assert len(spec.talks) == 19
    assert all(2 <= len(t.questions) <= 3 for t in spec.talks)
    assert {t.start.date().isoformat() for t in spec.talks} == {"2026-11-27"}
    assert len(spec.colours.groups) == 4
    roles: list[str] = [role for member in spec.staff for role in member.roles]
    assert {role: roles.count(role) for role in ROLES} == {
        "desk": 3,
        "bands": 1,
        "hub": 10,
        "counter": 2,
        "coats": 2,
        "organiser": 1,
    }
    assert sorted(hub for m in spec.staff for hub in m.hubs) == sorted(h.id for h in spec.hubs)


def test_demo_staff_pins_are_the_documented_ones() -> None:
    documented = re.findall(r'pin_hash = "([^"]+)"\s+# PIN (\d+)', DEMO_TEXT)
    assert len(documented) == len(parse_event_file(DEMO_EVENT).staff)
    hashed, pin = documented[0]
    assert verify_pin(pin, hashed)


def test_demo_staff_bands_are_not_attendee_bands() -> None:
    attendees = (DEMO_EVENT.parent / "attendees.csv").read_text(encoding="utf-8")
    bands = [m.band_uid for m in parse_event_file(DEMO_EVENT).staff if m.band_uid]
    assert bands
    for uid in bands:
        assert uid.startswith("04")
        assert uid not in attendees


def test_demo_event_loads(store: Store) -> None:
    report = load_event(store, DEMO_EVENT, ACTOR)
    assert report.changed
    assert "hub qa" in report.created
    assert "event makeitreal-2026" in report.created
    assert store.event_name() == "Make IT Real 2026"
    tables = {t.name: t for t in metadata.sorted_tables}
    assert count(store, tables["hub"]) == 10
    assert count(store, tables["talk"]) == 19
    assert count(store, tables["stage"]) == 2
    assert count(store, tables["colour_group"]) == 4
    assert count(store, tables["rack"]) == 2
    with store.db.read() as conn:
        joined = conn.execute(select(staff_t.c.roles)).scalars().all()
        settings = json.loads(conn.execute(select(tables["event"].c.settings)).scalar_one())
    assert {role for roles in joined for role in roles.split(";")} == set(ROLES)
    assert settings["limits"]["cool_daily_budget"] == 200
    assert settings["colours"]["default"] == "blue"
    assert settings["social"] == {"points": 15, "max_per_attendee": 1}


def test_build_demo_loads_the_event_file(store: Store) -> None:
    summary = build_demo(store)
    assert summary.attendees == 800
    assert store.event_name() == "Make IT Real 2026"
    assert count(store, staff_t) == 19
    # The demo's event is the file's: loading the file again changes nothing.
    assert not load_event(store, DEMO_EVENT, ACTOR).changed


# -- idempotent loading ------------------------------------------------------------------------


def test_second_load_changes_nothing(store: Store) -> None:
    first = load_event(store, DEMO_EVENT, ACTOR)
    before = snapshot(store)
    report = load_event(store, DEMO_EVENT, ACTOR.next_action())
    assert not report.changed
    assert report.summary() == "no changes"
    assert report.unchanged == len(first.created)
    assert snapshot(store) == before


def test_audit_row_only_when_something_changed(store: Store) -> None:
    first = ACTOR.next_action()
    load_event(store, DEMO_EVENT, first)
    rows = store.audit_trail(first.correlation_id)
    assert [r["action"] for r in rows] == ["event_load"]
    assert "hub qa" in json.loads(rows[0]["detail"])["created"]
    again = ACTOR.next_action()
    load_event(store, DEMO_EVENT, again)
    assert store.audit_trail(again.correlation_id) == ()


def test_edited_activity_is_updated(store: Store, tmp_path: Path) -> None:
    load_event(store, DEMO_EVENT, ACTOR)
    text = edited(
        'id = "qa-bug-hunt"\n  name = "Bug hunt: find the five planted bugs"\n  points = 20',
        'id = "qa-bug-hunt"\n  name = "Bug hunt: find the five planted bugs"\n  points = 30',
    )
    report = load_event(store, write(tmp_path, text), ACTOR.next_action())
    assert report.updated == ("activity qa-bug-hunt",)
    assert report.created == report.deactivated == ()
    assert "activity: qa-bug-hunt" in report.summary()
    tables = {t.name: t for t in metadata.sorted_tables}
    with store.db.read() as conn:
        points = conn.execute(
            select(tables["activity"].c.points).where(tables["activity"].c.id == "qa-bug-hunt")
        ).scalar_one()
    assert points == 30


def test_removed_prize_is_deactivated_and_comes_back(store: Store, tmp_path: Path) -> None:
    load_event(store, DEMO_EVENT, ACTOR)
    report = load_event(store, write(tmp_path, without_prize("charger")), ACTOR.next_action())
    assert report.deactivated == ("prize charger",)
    assert report.created == report.updated == ()
    assert "Deactivated:" in report.summary()
    with store.db.read() as conn:
        row = conn.execute(select(prize_t).where(prize_t.c.id == "charger")).mappings().one()
    assert row["active"] is False
    assert row["supplied"] == 40
    # Removing it again is no change: it is already inactive.
    assert not load_event(store, write(tmp_path, without_prize("charger")), ACTOR).changed

    report = load_event(store, DEMO_EVENT, ACTOR.next_action())
    assert report.updated == ("prize charger",)
    assert count(store, prize_t, prize_t.c.id == "charger", prize_t.c.active) == 1


def test_supplied_change_updates_only_the_supply(store: Store, tmp_path: Path) -> None:
    load_event(store, DEMO_EVENT, ACTOR)
    text = edited(
        'id = "headphones"\nname = "Headphones"\ntier = 3\nprice = 900\nsupplied = 25',
        'id = "headphones"\nname = "Headphones"\ntier = 3\nprice = 900\nsupplied = 30',
    )
    report = load_event(store, write(tmp_path, text), ACTOR.next_action())
    assert report.updated == ("prize headphones",)


def test_staff_bands_can_swap_and_move(store: Store, tmp_path: Path) -> None:
    load_event(store, DEMO_EVENT, ACTOR)
    swapped = DEMO_TEXT.replace("04DE5C0000A001", "@").replace("04DE5C0000A002", "04DE5C0000A001")
    swapped = swapped.replace("@", "04DE5C0000A002")
    report = load_event(store, write(tmp_path, swapped), ACTOR.next_action())
    assert set(report.updated) == {"staff desk-aigerim", "staff bands-olzhas"}
    # A staff member leaves; a newcomer gets her band.
    moved = edited('id = "organiser-dinara"', 'id = "organiser-aliya"', swapped)
    report = load_event(store, write(tmp_path, moved), ACTOR.next_action())
    assert report.created == ("staff organiser-aliya",)
    assert report.deactivated == ("staff organiser-dinara",)
    with store.db.read() as conn:
        holders = conn.execute(
            select(staff_t.c.id, staff_t.c.active).where(staff_t.c.band_uid == "04DE5C0000A005")
        ).all()
    assert sorted(holders) == [("organiser-aliya", True), ("organiser-dinara", False)]


def test_naive_times_are_in_the_event_time_zone(tmp_path: Path) -> None:
    text = edited(
        'start = "2026-11-27T10:00:00+05:00"\nend = "2026-11-27T10:40:00+05:00"\n'
        'tags = ["backend", "databases"]',
        'start = 2026-11-27T10:00:00\nend = "2026-11-27T10:40:00"\ntags = ["backend", "databases"]',
    )
    talk = parse_event_file(write(tmp_path, text)).talks[0]
    assert talk.start.isoformat() == "2026-11-27T10:00:00+05:00"
    assert talk.end.isoformat() == "2026-11-27T10:40:00+05:00"


def test_another_event_is_refused(store: Store, tmp_path: Path) -> None:
    load_event(store, DEMO_EVENT, ACTOR)
    before = snapshot(store)
    other = edited('id = "makeitreal-2026"', 'id = "makeitreal-2027"')
    with pytest.raises(Refused, match="makeitreal-2026"):
        load_event(store, write(tmp_path, other), ACTOR.next_action())
    assert snapshot(store) == before


def test_staff_band_that_is_an_attendee_band_is_refused(store: Store, tmp_path: Path) -> None:
    add_attendee(store, band_uid="04DE5C0000A003")
    before = snapshot(store)
    with pytest.raises(EventFileError, match=r"staff\[7\]\.band_uid"):
        load_event(store, DEMO_EVENT, ACTOR)
    assert snapshot(store) == before


# -- malformed files ---------------------------------------------------------------------------

FIRST_ACTIVITY_POINTS = (
    'id = "qa-bug-hunt"\n  name = "Bug hunt: find the five planted bugs"\n  points = 20'
)

BAD_FILES: dict[str, tuple[Callable[[], str], list[str]]] = {
    "toml syntax": (
        lambda: edited("cool_daily_budget = 200", "cool_daily_budget = = 200"),
        [
            f"line {DEMO_TEXT[: DEMO_TEXT.index('cool_daily_budget')].count(chr(10)) + 1}",
            "column",
            "syntax",
        ],
    ),
    "unknown key": (
        lambda: edited(FIRST_ACTIVITY_POINTS, FIRST_ACTIVITY_POINTS + '\n  colour = "red"'),
        ["hubs[0].activities[0].colour", "unknown key"],
    ),
    "unknown section": (
        lambda: DEMO_TEXT + '\n[[hubz]]\nid = "x"\n',
        ["hubz", "unknown key"],
    ),
    "wrong type": (
        lambda: edited(FIRST_ACTIVITY_POINTS, FIRST_ACTIVITY_POINTS.replace("20", '"twenty"')),
        ["hubs[0].activities[0].points", "integer", "'twenty'"],
    ),
    "zero points": (
        lambda: edited(FIRST_ACTIVITY_POINTS, FIRST_ACTIVITY_POINTS.replace("20", "0")),
        ["hubs[0].activities[0].points", "greater than 0"],
    ),
    "duplicate id": (
        lambda: edited('[[prizes]]\nid = "enamel-pin"', '[[prizes]]\nid = "stickers"'),
        ["prizes[1].id", "'stickers'", "prizes[0]"],
    ),
    "bad id": (
        lambda: edited('id = "rack-b"', 'id = "Rack B"'),
        ["racks[1].id", "'Rack B'"],
    ),
    "unknown stage": (
        lambda: edited('id = "t01"\nstage = "what"', 'id = "t01"\nstage = "where"'),
        ["talks[0].stage", "'where'"],
    ),
    "talk ends before it starts": (
        lambda: edited(
            'end = "2026-11-27T10:40:00+05:00"\ntags = ["backend", "databases"]',
            'end = "2026-11-27T09:40:00+05:00"\ntags = ["backend", "databases"]',
        ),
        ["talks[0].end", "before it starts"],
    ),
    "overlapping talks": (
        lambda: edited(
            'start = "2026-11-27T10:45:00+05:00"', 'start = "2026-11-27T10:30:00+05:00"'
        ),
        ["talks[1].start", "overlaps talk 't01'"],
    ),
    "bad time zone": (
        lambda: edited('timezone = "Asia/Almaty"', 'timezone = "Asia/Almatyy"'),
        ["event.timezone", "Asia/Almatyy"],
    ),
    "staff without pin or band": (
        lambda: re.sub(r'(id = "desk-pavel"\n(?:.+\n)*?)pin_hash = .+\n', r"\1", DEMO_TEXT),
        ["staff[1]", "'desk-pavel' cannot sign in"],
    ),
    "bad role": (
        lambda: edited('roles = ["organiser"]', 'roles = ["boss"]'),
        ["staff[18].roles[0]", "'boss'"],
    ),
    "bad band uid": (
        lambda: edited('band_uid = "04DE5C0000A005"', 'band_uid = "04-DE-5C"'),
        ["staff[18].band_uid", "8, 14 or 20 hex digits"],
    ),
    "damaged pin hash": (
        lambda: edited(
            'name = "Динара Мусина"\nroles = ["organiser"]\npin_hash = "scrypt$',
            'name = "Динара Мусина"\nroles = ["organiser"]\npin_hash = "bcrypt$',
        ),
        ["staff[18].pin_hash", "scrypt$N$r$p$salt$hash"],
    ),
    "five colour groups": (
        lambda: edited(
            "# -- hubs and their activities",
            '  [[colours.groups]]\n  id = "red"\n  name = "Red"\n  hex = "#EB5757"\n'
            '  fields = ["sales"]\n\n# -- hubs and their activities',
        ),
        ["colours.groups", "exactly 4 colour groups, not 5"],
    ),
    "field in two colours": (
        lambda: edited('fields = ["design"]', 'fields = ["design", "qa"]'),
        ["colours.groups[3].fields[1]", "'qa'", "'green'"],
    ),
    "unknown default colour": (
        lambda: edited('default = "blue"', 'default = "red"'),
        ["colours.default", "'red'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_and_changes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    make_text, expected = BAD_FILES[case]
    load_event(store, DEMO_EVENT, ACTOR)
    before = snapshot(store)
    path = write(tmp_path, make_text(), "broken.toml")
    with pytest.raises(EventFileError) as caught:
        load_event(store, path, ACTOR.next_action())
    message = caught.value.message
    assert str(path) in message.splitlines()[0]
    for part in expected:
        assert part in message, (part, message)
    assert isinstance(caught.value, ConfigurationError)
    assert snapshot(store) == before


def test_bad_file_on_an_empty_database_writes_nothing(store: Store, tmp_path: Path) -> None:
    before = snapshot(store)
    with pytest.raises(EventFileError):
        load_event(store, write(tmp_path, edited("price = 1500", "price = -1500")), ACTOR)
    assert snapshot(store) == before


def test_every_problem_is_listed_one_per_line(tmp_path: Path) -> None:
    text = edited('timezone = "Asia/Almaty"', 'timezone = "Mars/Olympus"')
    text = edited(FIRST_ACTIVITY_POINTS, FIRST_ACTIVITY_POINTS.replace("20", "-1"), text)
    text = edited("capacity = 250", 'capacity = "lots"', text)
    with pytest.raises(EventFileError) as caught:
        parse_event_file(write(tmp_path, text))
    lines = caught.value.message.splitlines()
    assert "3 problems" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "event.timezone",
        "hubs[0].activities[0].points",
        "racks[1].capacity",
    ]
    assert caught.value.problems[0].startswith("event.timezone: ")


def test_missing_file_is_an_event_file_error(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="cannot read"):
        parse_event_file(tmp_path / "nowhere.toml")


def test_missing_required_key(tmp_path: Path) -> None:
    text = edited('name = "Make IT Real 2026"\n', "")
    with pytest.raises(EventFileError, match=r"event\.name: required"):
        parse_event_file(write(tmp_path, text))


# -- PIN hashes --------------------------------------------------------------------------------


def test_pin_round_trip() -> None:
    hashed = hash_pin("4821")
    assert hashed.startswith("scrypt$16384$8$1$")
    assert verify_pin("4821", hashed)
    assert not verify_pin("4822", hashed)
    assert not verify_pin("48210", hashed)
    assert not verify_pin("", hashed)
    check_pin_hash(hashed)


def test_same_pin_hashes_differently() -> None:
    assert hash_pin("12345678") != hash_pin("12345678")


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "12 34", "١٢٣٤", "1234\n"])
def test_bad_pins_are_refused(pin: str) -> None:
    with pytest.raises(ValueError, match="4 to 8 digits"):
        hash_pin(pin)
    assert not verify_pin(pin, hash_pin("1234"))


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "plain1234",
        "scrypt$16384$8$1$@@@$abc",
        "scrypt$3$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
        "scrypt$1073741824$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==",
    ],
)
def test_damaged_hashes_are_refused(hashed: str) -> None:
    with pytest.raises(ValueError):
        verify_pin("1234", hashed)
