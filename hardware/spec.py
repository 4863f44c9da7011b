"""The ``--reader`` grammar: sim | wedge | emulated[:PORT] | nfc:<nfcpy path>."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_EMULATOR_PORT", "ReaderSpec", "parse_reader_spec"]

DEFAULT_EMULATOR_PORT = 54321


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """A parsed ``--reader`` value."""

    kind: str
    """"sim", "wedge", "emulated" or "nfc"."""
    path: str = ""
    """For "nfc": nfcpy's device path (usb, usb:VID:PID, tty:USB0:pn532, udp:HOST:PORT)."""
    port: int = DEFAULT_EMULATOR_PORT
    """For "emulated": the UDP port of the tag emulator."""

    def __str__(self) -> str:
        if self.kind == "nfc":
            return f"nfc:{self.path}"
        if self.kind == "emulated":
            return f"emulated:{self.port}"
        return self.kind


def parse_reader_spec(value: str) -> ReaderSpec:
    """Parse ``value``; raises ValueError with the accepted forms."""
    text = value.strip()
    kind, _, rest = text.partition(":")
    if kind in ("sim", "wedge") and not rest:
        return ReaderSpec(kind)
    if kind == "emulated":
        if not rest:
            return ReaderSpec("emulated")
        if rest.isdigit() and 0 < int(rest) < 65536:
            return ReaderSpec("emulated", port=int(rest))
    if kind == "nfc" and rest:
        return ReaderSpec("nfc", path=rest)
    raise ValueError(
        f"{value!r} is not a reader: use sim, wedge, emulated[:PORT] or nfc:PATH "
        "(nfc:usb, nfc:usb:VID:PID, nfc:tty:USB0:pn532, nfc:udp:HOST:PORT)"
    )
