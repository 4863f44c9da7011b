"""Importing the registration list and pre-event points: bad rows, re-imports, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from store.context import Actor
from store.demo.build import DEMO_EVENT
from store.desk import attendee_card, bind_band, check_in
from store.errors import ConfigurationError
from store.eventfile import load_event
from store.imports import import_attendees, import_points, load_mapping
from store.models import Attendee, PendingPoints, SearchKey
from store.points import statement
from store.search import search_attendees
from store.service import Store
from tests.factories import add_attendee

ADMIN = Actor(station="office", staff="Organiser")

#: A spreadsheet export with every kind of problem: a BOM, ";" between columns, Russian
#: headers, a cell with a line break in quotes, a blank line, and bad rows of every kind.
BAD_FILE = (
    "\ufeffФИО;Почта;Компания;Направление;Интересы\n"  # line 1
    "Иван Петров;Ivan.Petrov@Example.kz;Tulpar Tech;development;ml, infra\n"  # 2: good
    ";nobody@example.kz;Tulpar Tech;qa;\n"  # 3: no name
    "Anna Smith;anna-at-example.kz;Ledgerline;qa;\n"  # 4: malformed e-mail
    "Иван Петров (again);ivan.petrov@example.kz;Tulpar Tech;qa;\n"  # 5: e-mail twice
    "Oleg Popov;oleg@example.kz;Ledgerline;astronaut;\n"  # 6: unknown field
    'Сәуле Иманғалиева;saule@example.kz;"Орда\nПроцессинг";management;people\n'  # 7-8: good
    "\n"  # 9: blank, skipped
    "Әсел Нұрланова;asel@example.kz;Silk Way;QA;qa;\n"  # 10: good (an empty extra cell)
    "No Contact;;Ledgerline;qa;\n"  # 11: neither e-mail nor code
    "Extra Cells;extra@example.kz;Ledgerline;qa;qa;security\n"  # 12: ";" in a tag list
)


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def event(store: Store) -> Store:
    load_event(store, DEMO_EVENT, Actor(station="setup"))
    return store


def count(store: Store, table: object) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_bad_rows_are_reported_and_good_ones_imported(event: Store, tmp_path: Path) -> None:
    kept = add_attendee(event, "Already There")
    report = import_attendees(event, write(tmp_path, BAD_FILE), actor=ADMIN)
    assert report.delimiter == ";" and report.encoding == "utf-8"
    assert (report.rows, report.created, report.updated, report.unchanged) == (9, 3, 0, 0)
    reasons = {row.line: row.reason for row in report.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 11, 12]
    assert "no name" in reasons[3]
    assert "not an e-mail address" in reasons[4]
    assert "already on line 2" in reasons[5]
    assert "astronaut" in reasons[6] and "development" in reasons[6]
    assert "no e-mail and no code" in reasons[11]
    assert "6 cells" in reasons[12]
    assert [m.attendee_id for m in report.missing_from_file] == [kept]
    assert dict(report.columns) == {
        "ФИО": "name",
        "Почта": "email",
        "Компания": "company",
        "Направление": "field",
        "Интересы": "tags",
    }
    saule = search_attendees(event, "saule@example.kz")[0]
    card = attendee_card(event, saule.attendee_id)
    assert card.company == "Орда Процессинг"  # the quoted line break folded into a space
    assert (card.field, card.registered_via, len(card.code)) == ("management", "import", 10)
    ivan = attendee_card(event, search_attendees(event, "ivan petrov")[0].attendee_id)
    assert (ivan.email, ivan.tags) == ("ivan.petrov@example.kz", ("ml", "infra"))
    asel = attendee_card(event, search_attendees(event, "asel nurlanova")[0].attendee_id)
    assert asel.field == "qa"
    assert check_in(event, Actor(station="desk-1"), asel.attendee_id).colour_id == "green"


def test_the_same_file_twice_changes_nothing(event: Store, tmp_path: Path) -> None:
    path = write(tmp_path, BAD_FILE)
    first = import_attendees(event, path, actor=ADMIN)
    people, keys = count(event, Attendee.__table__), count(event, SearchKey.__table__)  # type: ignore[attr-defined]
    again = import_attendees(event, path, actor=ADMIN.next_action())
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert [r.line for r in again.rejected] == [r.line for r in first.rejected]
    assert count(event, Attendee.__table__) == people  # type: ignore[attr-defined]
    assert count(event, SearchKey.__table__) == keys  # type: ignore[attr-defined]


def test_an_updated_file_updates_only_the_changed_people(event: Store, tmp_path: Path) -> None:
    import_attendees(event, write(tmp_path, BAD_FILE), actor=ADMIN)
    codes = {hit.email: hit.code for hit in search_attendees(event, "example.kz", limit=50)}
    changed = BAD_FILE.replace("Silk Way;QA", "Kremnium Labs;design")
    report = import_attendees(event, write(tmp_path, changed), actor=ADMIN.next_action())
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert [hit.name for hit in search_attendees(event, "kremnium")] == ["Әсел Нұрланова"]
    assert search_attendees(event, "silk way") == ()
    after = {hit.email: hit.code for hit in search_attendees(event, "example.kz", limit=50)}
    assert after == codes  # codes stay: the invitations were already sent


def test_mapping_names_unknown_columns(event: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Гость,Электронка,Invitation code\nAnna Smith,anna@example.kz,AB23CD45EF\n",
    )
    with pytest.raises(ConfigurationError, match="which column holds the name"):
        import_attendees(event, path, actor=ADMIN)
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\n"Гость" = "name"\n"Электронка" = "email"\n', encoding="utf-8")
    report = import_attendees(event, path, mapping=load_mapping(toml), actor=ADMIN)
    assert report.created == 1 and report.delimiter == ","
    assert search_attendees(event, "AB23CD45EF")[0].email == "anna@example.kz"
    with pytest.raises(ConfigurationError, match="no column 'Почта'"):
        import_attendees(event, path, mapping={"Почта": "email"}, actor=ADMIN)
    with pytest.raises(ConfigurationError, match="field 'telephone'"):
        import_attendees(event, path, mapping={"Гость": "telephone"}, actor=ADMIN)


def test_first_and_last_name_columns_and_codes(event: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Имя,Фамилия,E-mail,Код\n"
        "Анна,Смирнова,anna@example.kz,ab23-cd45\n"
        "Олег,Попов,oleg@example.kz,!!\n"
        "Пётр,Иванов,petr@example.kz,AB23-CD45\n",
        encoding="cp1251",
    )
    report = import_attendees(event, path, actor=ADMIN)
    assert report.encoding == "cp1251" and report.created == 1
    assert [(r.line, "code" in r.reason) for r in report.rejected] == [(3, True), (4, True)]
    assert search_attendees(event, "AB23-CD45")[0].name == "Анна Смирнова"


def test_a_code_clash_with_an_e_mail_is_rejected(event: Store, tmp_path: Path) -> None:
    import_attendees(
        event,
        write(tmp_path, "name,email\nAnna,anna@example.kz\nOleg,oleg@example.kz\n"),
        actor=ADMIN,
    )
    anna = search_attendees(event, "anna@example.kz")[0]
    clash = write(tmp_path, f"name,email,code\nOleg,anna@example.kz,{anna.code}X\n", "2.csv")
    report = import_attendees(event, clash, actor=ADMIN)
    assert "registered with the code" in report.rejected[0].reason
    swap = write(tmp_path, f"name,email,code\nAnna,oleg@example.kz,{anna.code}\n", "3.csv")
    assert "belongs to Oleg" in import_attendees(event, swap, actor=ADMIN).rejected[0].reason


def test_progress_is_reported(event: Store, tmp_path: Path) -> None:
    rows = "".join(f"Person {n},p{n}@example.kz\n" for n in range(12))
    seen: list[tuple[int, int]] = []
    import_attendees(
        event,
        write(tmp_path, "name,email\n" + rows),
        progress=lambda done, total: seen.append((done, total)),
        actor=ADMIN,
    )
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)


def test_files_that_cannot_be_read(event: Store, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read"):
        import_attendees(event, tmp_path / "missing.csv", actor=ADMIN)
    with pytest.raises(ConfigurationError, match="empty"):
        import_attendees(event, write(tmp_path, ""), actor=ADMIN)
    with pytest.raises(ConfigurationError, match="e-mail or a code column"):
        import_attendees(event, write(tmp_path, "name,company\nA,B\n"), actor=ADMIN)


# -- pre-event points -----------------------------------------------------------------------


def points_file(tmp_path: Path, ivan_code: str, banded_code: str) -> Path:
    return write(
        tmp_path,
        "e-mail;код;причина;баллы;внешний id\n"
        f";{ivan_code};questions for the hubs;20;site-1\n"  # 2: waits for the band
        f";{ivan_code};invited a friend;15;site-2\n"  # 3: waits too
        f";{banded_code};invited a colleague;10;site-3\n"  # 4: posted now (already bound)
        "ghost@example.kz;;questions;5;site-4\n"  # 5: nobody
        f";{ivan_code};questions;abc;site-5\n"  # 6: not a number
        f";{ivan_code};questions;-5;site-6\n"  # 7: not above zero
        f";{ivan_code};questions;5;\n"  # 8: no external id
        f";{ivan_code};questions;5;site-1\n",  # 9: external id twice
        "points.csv",
    )


def test_points_wait_for_the_band_or_post_at_once(event: Store, tmp_path: Path) -> None:
    ivan = add_attendee(event, "Иван Петров", colour=None)
    banded = add_attendee(event, "Anna Smith", band_uid="04AAAAAAAAAAAA")
    ivan_code, banded_code = attendee_card(event, ivan).code, attendee_card(event, banded).code
    actor = Actor(station="office")
    report = import_points(event, points_file(tmp_path, ivan_code, banded_code), actor)
    assert (report.rows, report.imported, report.points_imported) == (8, 3, 45)
    assert (report.posted_now, report.attendees_posted, report.already_imported) == (10, 1, 0)
    assert [r.line for r in report.rejected] == [5, 6, 7, 8, 9]
    assert "nobody is registered with ghost@example.kz" in report.rejected[0].reason
    assert "already on line 2" in report.rejected[-1].reason
    assert attendee_card(event, ivan).pending_points == 35
    assert [(line.amount, line.code) for line in statement(event, banded)] == [(10, "pre-event")]
    assert import_points(event, tmp_path / "points.csv", actor) == report  # a retry
    check_in(event, Actor(station="desk-1"), ivan)
    assert bind_band(event, Actor(station="desk-1"), ivan, "04BBBBBBBBBBBB").points_posted == 35
    assert event.verify().ok


def test_points_imported_twice_count_once(event: Store, tmp_path: Path) -> None:
    ivan = add_attendee(event, "Иван Петров", colour=None)
    banded = add_attendee(event, "Anna Smith", band_uid="04AAAAAAAAAAAA")
    path = points_file(tmp_path, attendee_card(event, ivan).code, attendee_card(event, banded).code)
    import_points(event, path, Actor(station="office"))
    again = import_points(event, path, Actor(station="office"))
    assert (again.imported, again.already_imported, again.posted_now) == (0, 3, 0)
    assert count(event, PendingPoints.__table__) == 3  # type: ignore[attr-defined]
    assert attendee_card(event, banded).balance == 10
    changed = path.read_text(encoding="utf-8").replace(";20;site-1", ";50;site-1")
    report = import_points(event, write(tmp_path, changed, "changed.csv"), Actor(station="office"))
    assert "site-1 was imported before with 20 points" in report.rejected[0].reason
    assert attendee_card(event, ivan).pending_points == 35
    assert event.verify().ok


def test_points_file_needs_its_columns(event: Store, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="points, external_id"):
        import_points(event, write(tmp_path, "email,reason\na@b.kz,x\n"), Actor(station="office"))
