"""Invitation codes, their QR codes, and reading a scanned QR back in any keyboard layout."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import segno

from store.context import Actor
from store.desk import register_walk_in
from store.invites import CODE_ALPHABET, QR_PREFIX, export_invites, new_code, parse_scan
from store.service import Store
from tests.factories import add_attendee


def test_new_codes_use_the_alphabet_and_differ() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(code) == 10 and set(code) <= set(CODE_ALPHABET) for code in codes)


@pytest.mark.parametrize(
    ("scan", "code"),
    [
        ("TD:6YJX8JP327", "6YJX8JP327"),
        ("td:6yjx8jp327", "6YJX8JP327"),
        ("  Td:6YJX8JP327\n", "6YJX8JP327"),
        ("ЕВЖ6НОЧ8ОЗ327", "6YJX8JP327"),  # the scanner typed under a Russian layout
        ("евЖ6нОч8Оз327", "6YJX8JP327"),
        ("TD:AB23-CD45", "AB23-CD45"),  # a code from another registration system
        ("6YJX8JP327", None),  # no prefix: not an invitation
        ("04A1B2C3D4E5F6", None),  # a band UID
        ("1234567890", None),  # a decimal UID
        ("TD:", None),
        ("TD:AB", None),
        ("TD:6YJX 8JP327", None),
        ("", None),
    ],
)
def test_parse_scan(scan: str, code: str | None) -> None:
    assert parse_scan(scan) == code


def test_export_writes_qr_codes_and_a_mail_merge_file(store: Store, tmp_path: Path) -> None:
    add_attendee(store, "Иван Петров")
    add_attendee(store, "Anna Smith")
    walk_in = register_walk_in(store, Actor(station="desk-1"), "Сәуле Ахметова", "", "", "other")
    report = export_invites(store, tmp_path / "invites")
    assert (report.invites, report.without_email) == (3, 1)
    csv_path = Path(report.csv_path)
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets read Cyrillic right
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert [row["name"] for row in rows] == ["Anna Smith", "Иван Петров", "Сәуле Ахметова"]
    assert set(rows[0]) == {"name", "email", "code", "png", "svg"}
    assert rows[2]["code"] == walk_in.code and rows[2]["email"] == ""
    for row in rows:
        png, svg = csv_path.parent / row["png"], csv_path.parent / row["svg"]
        assert png.read_bytes().startswith(b"\x89PNG")
        # The QR carries TD: + the code: the same text gives the same SVG.
        expected = io.BytesIO()
        segno.make(QR_PREFIX + row["code"], error="m", micro=False).save(
            expected, kind="svg", scale=8, border=4, xmldecl=False
        )
        assert svg.read_bytes() == expected.getvalue()
    again = export_invites(store, tmp_path / "invites")
    assert again.invites == 3
    assert len(list((tmp_path / "invites").iterdir())) == 7
