"""The committed demo attendee list (``store/demo/attendees.csv``) is sound and reproducible."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from store.demo import names
from store.demo.generate import CODE_ALPHABET, COLUMNS, DEFAULT_PATH, FIELDS, generate

BAND_UID = re.compile(r"^04[0-9A-F]{12}$")
KAZAKH_GIVEN = frozenset(names.KAZAKH_MALE_GIVEN + names.KAZAKH_FEMALE_GIVEN)
KAZAKH_SURNAMES = frozenset(name for pair in names.KAZAKH_SURNAMES for name in pair)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    """The committed CSV, read with the csv module."""
    with DEFAULT_PATH.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def _is_kazakh(name: str) -> bool:
    given, _, surname = name.partition(" ")
    return (
        any(letter in names.KAZAKH_LETTERS for letter in name)
        or given in KAZAKH_GIVEN
        or surname in KAZAKH_SURNAMES
    )


def test_has_800_rows(rows: list[dict[str, str]]) -> None:
    assert len(rows) == 800


def test_codes_are_unique_and_use_the_alphabet(rows: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in rows]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == 10
        assert all(char in CODE_ALPHABET for char in code), code


def test_emails_are_unique_lowercase_ascii(rows: list[dict[str, str]]) -> None:
    emails = [row["email"] for row in rows]
    assert len(set(emails)) == len(emails)
    for email in emails:
        assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+", email), email


def test_exactly_300_unique_band_uids(rows: list[dict[str, str]]) -> None:
    uids = [row["band_uid"] for row in rows if row["band_uid"]]
    assert len(uids) == 300
    assert len(set(uids)) == 300
    for uid in uids:
        assert BAND_UID.match(uid), uid


def test_colour_only_with_a_band(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert bool(row["colour"]) == bool(row["band_uid"]), row


def test_enough_kazakh_names(rows: list[dict[str, str]]) -> None:
    kazakh = sum(_is_kazakh(row["name"]) for row in rows)
    assert kazakh >= 0.15 * len(rows)


def test_fields_are_the_five(rows: list[dict[str, str]]) -> None:
    assert {row["field"] for row in rows} <= set(FIELDS)


def test_tags_are_one_to_four_distinct_known(rows: list[dict[str, str]]) -> None:
    for row in rows:
        tags = row["tags"].split(";")
        assert 1 <= len(tags) <= 4
        assert len(set(tags)) == len(tags)
        assert set(tags) <= set(names.INTEREST_TAGS)


@pytest.mark.parametrize(
    "name", ["Иван Петров", "Әсел Нұрланова", "Anna Smith", "Пётр Семёнов", "Алёна Королёва"]
)
def test_people_the_tests_rely_on(rows: list[dict[str, str]], name: str) -> None:
    assert name in {row["name"] for row in rows}


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    output = tmp_path / "attendees.csv"
    generate(output)
    assert output.read_bytes() == DEFAULT_PATH.read_bytes()
