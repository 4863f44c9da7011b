"""The demo staff's PINs, read from the comments next to their hashes in the demo event file.

Only the demo shows PINs (its sign-in screen lists them so a newcomer can try every role); a
real event file holds hashes alone.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DEMO_EVENT_FILE", "demo_pins"]

DEMO_EVENT_FILE = Path(__file__).with_name("event.toml")

_BLOCK = re.compile(r"\[\[staff\]\](.*?)(?=\n\[|\Z)", re.S)
_ID = re.compile(r'^id\s*=\s*"([^"]+)"', re.M)
_PIN = re.compile(r"#\s*PIN\s+(\d{4,8})")


def demo_pins(path: Path = DEMO_EVENT_FILE) -> dict[str, str]:
    """Staff id -> PIN, for every demo staff member whose hash carries a ``# PIN nnnn`` note."""
    pins: dict[str, str] = {}
    for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
        staff_id, pin = _ID.search(block), _PIN.search(block)
        if staff_id and pin:
            pins[staff_id.group(1)] = pin.group(1)
    return pins
