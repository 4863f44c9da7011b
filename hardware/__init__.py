"""NFC readers and scanners. Never imports the store or Textual: it yields :class:`Tap` values."""

from hardware.base import Reader, ReaderState, Tap
from hardware.spec import ReaderSpec, parse_reader_spec
from hardware.uid import fold_layout, normalise_uid

__all__ = [
    "Reader",
    "ReaderSpec",
    "ReaderState",
    "Tap",
    "fold_layout",
    "normalise_uid",
    "parse_reader_spec",
]
