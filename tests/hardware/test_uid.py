"""UID normalisation, keyboard-layout folding and the --reader grammar."""

from __future__ import annotations

import threading

import pytest

from hardware import Tap, fold_layout, normalise_uid, parse_reader_spec
from hardware.sim import SimulatedReader, random_uid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("04A1B2C3D4E580", "04A1B2C3D4E580"),
        ("04:a1:b2:c3:d4:e5:80", "04A1B2C3D4E580"),
        ("04-A1-B2-C3-D4-E5-80", "04A1B2C3D4E580"),
        ("  1c78f2bf ", "1C78F2BF"),
        ("04ф1и2с3в4у580", "04A1B2C3D4E580"),  # typed under a Russian layout
        ("04A1B2", None),
        ("TD:ABCDEFGHJK", None),
        ("hello world", None),
        ("", None),
    ],
)
def test_normalise_uid(raw: str, expected: str | None) -> None:
    assert normalise_uid(raw) == expected


def test_fold_layout_maps_keys_back() -> None:
    assert fold_layout("ЕВЖФИС") == "TD:ABC"  # "TD:ABC" typed on a Russian layout
    assert fold_layout("04:ф1") == "04:a1"
    assert fold_layout("td:abc") == "td:abc"


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        ("sim", "sim", ""),
        ("wedge", "wedge", ""),
        ("emulated", "emulated", 54321),
        ("emulated:6000", "emulated", 6000),
        ("nfc:usb", "nfc", "usb"),
        ("nfc:tty:USB0:pn532", "nfc", "tty:USB0:pn532"),
        ("nfc:udp:127.0.0.1:5000", "nfc", "udp:127.0.0.1:5000"),
    ],
)
def test_reader_specs(text: str, kind: str, detail: object) -> None:
    spec = parse_reader_spec(text)
    assert spec.kind == kind
    assert (spec.path if kind == "nfc" else spec.port if kind == "emulated" else "") == detail


@pytest.mark.parametrize("text", ["", "usb", "nfc", "emulated:x", "emulated:99999", "sim:1"])
def test_bad_reader_specs_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="sim, wedge, emulated"):
        parse_reader_spec(text)


def test_simulated_reader_yields_placed_bands_and_stops() -> None:
    reader = SimulatedReader()
    stop = threading.Event()
    events = reader.events(stop)
    assert next(events).code == "ready"  # type: ignore[union-attr]
    uid = random_uid()
    reader.place(uid)
    tap = next(events)
    assert isinstance(tap, Tap) and tap.uid == uid and tap.reader == "sim"
    stop.set()
    assert list(events) == []
