"""Finding attendees at the desk: folding, transliteration, keyboard layouts, codes, e-mails."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from store.demo.build import build_demo
from store.engine import make_database
from store.ledger import forget_cached_accounts
from store.migrate import upgrade
from store.search import query_variants, search_attendees, search_keys
from store.service import Store
from tests.conftest import PG_URL

#: (what the desk types, who must be found, whether they must be the first hit).
#: Every kind of query: Cyrillic and Kazakh as written, transliterated in the usual spellings,
#: typed under the wrong keyboard layout, ё/е, e-mail, company, invitation code, several words.
CASES: list[tuple[str, str, bool]] = [
    ("Иван Петров", "Иван Петров", True),
    ("ivan petrov", "Иван Петров", True),
    ("IVAN", "Иван Петров", False),
    ("иван петр", "Иван Петров", True),
    ("bdfy gtnhjd", "Иван Петров", True),  # Иван Петров typed on a Latin keyboard
    ("asel", "Әсел Нұрланова", False),
    ("Әсел Нұрланова", "Әсел Нұрланова", True),
    ("asel nurlanova", "Әсел Нұрланова", True),
    ("Асель Нурланова", "Әсел Нұрланова", True),  # a Russian keyboard has no Kazakh letters
    ("фттф ыьшер", "Anna Smith", True),  # Anna Smith typed on a Russian keyboard
    ("Анна Смит", "Anna Smith", True),
    ("anna.smith@orda-processing-demo.kz", "Anna Smith", True),
    ("ANNA.SMITH@ORDA", "Anna Smith", True),
    ("Петр Семенов", "Пётр Семёнов", True),
    ("pyotr semyonov", "Пётр Семёнов", True),
    ("Алена Королева", "Алёна Королёва", True),
    ("alyona", "Алёна Королёва", False),
    ("fyodor vorobyov", "Фёдор Воробьёв", True),
    ("Нурлан Сарсенбаев", "Нұрлан Сәрсенбаев", True),
    ("nurlan sarsenbayev", "Нұрлан Сәрсенбаев", True),
    ("орда сәуле", "Сәуле Иманғалиева", True),  # company and given name
    ("orda imangalieva", "Сәуле Иманғалиева", True),
    ("Steppe Pay Давыдов", "Евгений Давыдов", True),
    ("Yevgeniy Davydov", "Евгений Давыдов", True),
    ("6YJX8JP327", "Иван Петров", True),
    ("td:6yjx8jp327", "Иван Петров", True),
    ("ЕВЖ6НОЧ8ОЗ327", "Иван Петров", True),  # the QR scanned under a Russian layout
    ("6yjx", "Иван Петров", True),
    ("Mikhail Uspensky", "Михаил Успенский", True),
    ("mihail uspenskiy", "Михаил Успенский", True),
    ("Gauhar Iliyasova", "Гауһар Ілиясова", True),
    ("Shyngys Kaliev", "Шыңғыс Қалиев", True),
    ("Шынгыс Калиев", "Шыңғыс Қалиев", True),
    ("Ulzhan Seitova", "Ұлжан Сейітова", True),
    ("Yuliya Kiseleva", "Юлия Киселёва", True),
    ("Natalia Kovaleva", "Наталья Ковалёва", True),
    ("Alexey Krylov", "Алексей Крылов", True),
    ("qazyna sergeev dmitr", "Дмитрий Сергеев", True),
    ("nadezhda.ilina", "Надежда Ильина", True),
    ("Ilyina Nadezhda", "Надежда Ильина", True),
    ("Yaroslav Chernyshev", "Ярослав Чернышёв", True),
]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Store]:
    """The demo, built once per engine for this module (searching changes nothing)."""
    forget_cached_accounts()
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("search") / "demo.sqlite"
        shutil.copyfile(sqlite_template, path)
        store = Store.open(f"sqlite:///{path}", migrate=False)
        build_demo(store)
        yield store
        store.close()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TAPDESK_TEST_DATABASE_URL (CI sets it)")
    # A schema of its own: the shared test schema is truncated by other tests between ours.
    schema = f"tapdesk_search_{uuid.uuid4().hex[:10]}"
    admin = make_database(PG_URL)
    with admin.write() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    db = make_database(url)
    upgrade(db)
    db.dispose()
    store = Store.open(url, migrate=False)
    try:
        build_demo(store)
        yield store
    finally:
        store.close()
        with admin.write() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize(("query", "name", "first"), CASES, ids=[c[0] for c in CASES])
def test_the_desk_finds_the_person(demo: Store, query: str, name: str, first: bool) -> None:
    hits = [hit.name for hit in search_attendees(demo, query)]
    if first:
        assert hits[:1] == [name], hits[:5]
    else:
        assert name in hits, hits


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_whole_words_come_before_longer_ones(demo: Store) -> None:
    hits = search_attendees(demo, "Пётр", limit=5)
    assert all(hit.name.startswith("Пётр ") for hit in hits)


def test_exact_e_mail_and_code_rank_first(demo: Store) -> None:
    hits = search_attendees(demo, "ivan.petrov@baiterek-soft-demo.kz")
    assert hits[0].name == "Иван Петров" and hits[0].code == "6YJX8JP327"
    assert search_attendees(demo, "6YJX8JP327")[0].email == "ivan.petrov@baiterek-soft-demo.kz"


def test_hits_carry_the_check_in_state(demo: Store) -> None:
    ivan = search_attendees(demo, "6YJX8JP327")[0]  # banded in the demo: checked in, blue
    asel = search_attendees(demo, "asel nurlanova")[0]  # no band yet
    assert (ivan.checked_in, ivan.colour) == (True, "blue")
    assert (asel.checked_in, asel.colour) == (False, None)


def test_limit_and_nonsense(demo: Store) -> None:
    assert len(search_attendees(demo, "a", limit=7)) == 7
    assert search_attendees(demo, "zzqxw") == ()
    assert search_attendees(demo, "   ") == ()


# -- the pure functions ----------------------------------------------------------------------


def test_keys_fold_case_yo_and_kazakh_letters() -> None:
    keys = search_keys("Пётр Әбішев", "P.Abishev@Example.KZ", "Қазына Банк", "AB23CD45EF")
    assert {"petr", "piotr", "abishev", "kazina", "bank"} <= keys
    assert {"p.abishev@example.kz", "p.abishev", "ab23cd45ef"} <= keys
    assert all(key == key.casefold() for key in keys)


def test_keys_carry_common_spelling_variants() -> None:
    assert {"evgenii", "ievgenii"} <= search_keys("Евгений", None, "", "")  # Evgeny/Yevgeny
    assert {"mikhail", "mihail"} <= search_keys("Михаил", None, "", "")
    assert {"aleksei", "alexei"} <= search_keys("Алексей", None, "", "")
    assert {"mariia", "maria"} <= search_keys("Мария", None, "", "")
    assert {"oconnor", "connor"} <= search_keys("Liam O'Connor", None, "", "")


def test_query_variants_read_both_layouts() -> None:
    assert query_variants("bdfy") == ["bdfi", "ivan"]
    assert query_variants("фттф") == ["fttf", "anna"]
    assert query_variants("Yevgeniy Davydov")[0] == "ievgenii davidov"
    assert query_variants("ANNA.SMITH@ORDA") == ["anna.smith@orda"]
    assert query_variants("   ") == []
