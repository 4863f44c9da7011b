"""Keyboard-wedge readers: they type the UID into the focused scan field, then Enter.

Nothing runs in the reader thread for them; the scan field parses what was typed with
:func:`parse_wedge`. The reader object only reports that it is ready.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from hardware.base import ReaderState, Tap
from hardware.uid import clean_scan, decimal_to_uid, reverse_uid

__all__ = ["WedgeKind", "WedgeRead", "WedgeReader", "parse_wedge"]

WedgeKind = Literal["uid", "truncated", "invalid"]

_HEX_UID = re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$")
_CASCADE_TAG = "88"
"""The first byte of a 7- or 10-byte UID's first cascade level; reserved as a UID's first byte."""


@dataclass(frozen=True, slots=True)
class WedgeRead:
    """What a keyboard-wedge scan says about the band, before looking it up.

    Resolving a read (done by the caller, which knows the bound bands):

    * ``kind == "uid"``: look the band up by each of :attr:`candidates` in order and take the
      first one bound. The first candidate is the UID as typed (hex) or as most cheap readers
      mean it (decimal, little-endian); the second is the same bytes in the other order. Readers
      disagree on byte order, and a reversed 4-byte UID is a *different*, equally valid UID, so
      the order cannot be decided from the text alone; trying "as given, then reversed" finds the
      band whichever way the reader prints, while the chance that the reversed value is another
      band's UID is negligible (about 300² / 2³² ≈ 2·10⁻⁵ for 300 bands with 4-byte UIDs, far
      less for 7-byte ones). A band bound for the first time is stored as :attr:`uid`.
    * ``kind == "truncated"``: the reader stopped after the first cascade level of a 7-byte UID
      and typed ``88 UID0 UID1 UID2``. Only :attr:`prefix` (UID0–UID2) is known. Match it against
      the bound bands' UIDs; exactly one match is that band, more than one must be refused as
      ambiguous (NXP UIDs all start with ``04``, so only 16 bits differ: at 300 bands two of them
      share a prefix about half the time), none is an unknown band. Never bind a new band from a
      truncated read.
    * ``kind == "invalid"``: not a UID (an invitation code is recognised by its ``TD:`` prefix
      before this is called).

    A read these rules cannot place is reported as an unknown band, never matched loosely: a
    wrong match would award the wrong person.
    """

    kind: WedgeKind
    raw: str
    """The text as the reader typed it (for the log)."""
    candidates: tuple[str, ...] = ()
    """``kind == "uid"``: normalised UIDs (upper-case hex, anticollision order) to try, in order."""
    prefix: str = ""
    """``kind == "truncated"``: UID0–UID2 in hex, e.g. ``04A1B2``."""
    source: Literal["hex", "decimal", ""] = ""
    """How the reader typed it."""

    @property
    def uid(self) -> str | None:
        """The most likely full UID (the first candidate), or None for other kinds."""
        return self.candidates[0] if self.candidates else None


def parse_wedge(text: str) -> WedgeRead:
    """Parse what a keyboard-wedge reader typed.

    Accepted, after folding a Russian layout back to Latin and dropping ``:``, ``-`` and spaces:

    * hex UIDs of 4, 7 or 10 bytes, in either byte order (see :class:`WedgeRead`);
    * a 10-digit decimal number: a 4-byte UID printed little-endian (``3220338716`` is
      ``1C78F2BF``), the big-endian reading kept as the second candidate;
    * a truncated 7-byte UID: 8 hex digits starting with the cascade tag ``88`` (typed as hex,
      or as a little-endian decimal), giving a ``"truncated"`` read with its 3-byte prefix.
    """
    cleaned = clean_scan(text)
    if len(cleaned) == 10 and cleaned.isdigit():
        little_endian = decimal_to_uid(cleaned)
        if little_endian is None:
            return WedgeRead("invalid", text)
        return _from_hex(little_endian, text, "decimal")
    if _HEX_UID.match(cleaned):
        return _from_hex(cleaned, text, "hex")
    return WedgeRead("invalid", text)


def _from_hex(uid: str, raw: str, source: Literal["hex", "decimal"]) -> WedgeRead:
    # ISO/IEC 14443-3 reserves 0x88 as the first byte of a single-size UID, so eight hex digits
    # starting with 88 are the first cascade level of a longer UID, not a 4-byte UID.
    if len(uid) == 8 and uid.startswith(_CASCADE_TAG):
        return WedgeRead("truncated", raw, prefix=uid[2:], source=source)
    reversed_uid = reverse_uid(uid)
    candidates = (uid,) if reversed_uid == uid else (uid, reversed_uid)
    return WedgeRead("uid", raw, candidates=candidates, source=source)


class WedgeReader:
    """A reader that types: always ready, taps arrive through the scan field."""

    spec = "wedge"

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Report "ready" and wait until stopped."""
        yield ReaderState("ready")
        stop.wait()
