"""Keyboard-wedge scans: byte order, decimal UIDs, layout folding, truncated 7-byte reads."""

from __future__ import annotations

import threading
from typing import Literal

import pytest

from hardware.base import ReaderState
from hardware.uid import clean_scan, decimal_to_uid, fold_layout, normalise_uid, reverse_uid
from hardware.wedge import WedgeRead, WedgeReader, parse_wedge


@pytest.mark.parametrize(
    ("typed", "candidates", "source"),
    [
        ("04A1B2C3D4E580", ("04A1B2C3D4E580", "80E5D4C3B2A104"), "hex"),
        ("80:e5:d4:c3:b2:a1:04", ("80E5D4C3B2A104", "04A1B2C3D4E580"), "hex"),  # LSB first
        ("1C78F2BF", ("1C78F2BF", "BFF2781C"), "hex"),
        ("1c-78-f2-bf", ("1C78F2BF", "BFF2781C"), "hex"),
        ("3220338716", ("1C78F2BF", "BFF2781C"), "decimal"),  # 0xBFF2781C, little-endian
        ("0000000001", ("01000000", "00000001"), "decimal"),
        ("4294967295", ("FFFFFFFF",), "decimal"),  # the same either way: one candidate
        ("04A1B2C3D4E5F60718A9", ("04A1B2C3D4E5F60718A9", "A91807F6E5D4C3B2A104"), "hex"),
    ],
)
def test_full_uids_come_with_both_byte_orders(
    typed: str, candidates: tuple[str, ...], source: str
) -> None:
    read = parse_wedge(typed)
    assert read.kind == "uid"
    assert read.candidates == candidates
    assert read.uid == candidates[0]
    assert read.source == source
    assert read.raw == typed


def test_reversed_reads_are_different_values_resolved_by_trying_both() -> None:
    # The app's rule: the first candidate bound to a band wins, as typed before reversed.
    bound = {"04A1B2C3D4E580": "Aigerim"}
    as_printed = parse_wedge("80E5D4C3B2A104")
    assert as_printed.uid not in bound
    assert next(bound[c] for c in as_printed.candidates if c in bound) == "Aigerim"


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("04ф1и2с3в4у580", "04A1B2C3D4E580"),  # Russian layout, lower case
        ("04Ф1И2С3В4У580", "04A1B2C3D4E580"),  # Russian layout, upper case
        ("1с78а2иа", "1C78F2BF"),  # "c", "f" and "b" on the Russian layout
    ],
)
def test_russian_layout_is_folded_before_parsing(typed: str, folded: str) -> None:
    assert parse_wedge(typed).uid == folded


@pytest.mark.parametrize(
    ("typed", "prefix", "source"),
    [
        ("8804A1B2", "04A1B2", "hex"),
        ("88:04:a1:b2", "04A1B2", "hex"),
        ("88045у7с", "045E7C", "hex"),  # and typed under the Russian layout
        (str(int.from_bytes(bytes.fromhex("8804A1B2"), "little")), "04A1B2", "decimal"),
    ],
)
def test_a_truncated_seven_byte_read_gives_only_a_prefix(
    typed: str, prefix: str, source: Literal["hex", "decimal"]
) -> None:
    read = parse_wedge(typed)
    assert read == WedgeRead("truncated", typed, prefix=prefix, source=source)
    assert read.uid is None  # never to be bound as a band of its own


def test_a_truncated_read_matches_by_prefix_and_is_refused_when_ambiguous() -> None:
    # Two of 300 NXP bands share the first 3 bytes about half the time: the caller must refuse.
    bands = ["04A1B2C3D4E580", "04A1B2990F1E22", "0441DC0695E643"]
    read = parse_wedge("8804A1B2")
    assert [b for b in bands if b.startswith(read.prefix)] == bands[:2]
    assert [b for b in bands if b.startswith(parse_wedge("880441DC").prefix)] == [bands[2]]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "TD:ABCDEFGHJK",
        "ЕВЖФИСВУАПРО",  # an invitation code typed under the Russian layout
        "04A1B2",  # 3 bytes
        "04A1B2C3D4E5",  # 6 bytes
        "12345",
        "123456789",  # 9 digits: neither decimal UID nor hex
        "4294967296",  # 2³²: too big for 4 bytes
        "０１２３４５６７８９",  # full-width digits
        "hello world",
    ],
)
def test_anything_else_is_invalid(typed: str) -> None:
    read = parse_wedge(typed)
    assert read.kind == "invalid"
    assert read.uid is None and read.candidates == () and read.prefix == ""


def test_uid_helpers() -> None:
    assert reverse_uid("1C78F2BF") == "BFF2781C"
    assert decimal_to_uid("3220338716") == "1C78F2BF"
    assert decimal_to_uid("322033871") is None
    assert clean_scan(" 04:ф1-и2 с3 ") == "04A1B2C3"
    assert fold_layout("йцукен") == "qwerty"
    # normalise_uid keeps its contract: hex of 4, 7 or 10 bytes, no decimal, no byte swapping.
    assert normalise_uid("3220338716") is None
    assert normalise_uid("80:E5:D4:C3:B2:A1:04") == "80E5D4C3B2A104"


def test_wedge_reader_is_ready_until_stopped() -> None:
    stop = threading.Event()
    events = WedgeReader().events(stop)
    assert next(events) == ReaderState("ready")
    stop.set()
    assert list(events) == []
