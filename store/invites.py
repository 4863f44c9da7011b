"""Invitation codes, the QR codes that carry them, and reading a scanned QR back.

Each attendee has an invitation code of ten characters from an alphabet without look-alikes
(no 0/O, 1/I/L). The invitation e-mail carries a QR code with ``TD:`` + the code: the prefix
tells a scanned invitation apart from a band UID typed by the same keyboard-wedge reader, so a
code is never mistaken for a decimal UID.

A wedge scanner types key codes: under a Russian layout ``TD:6YJX8JP327`` arrives as
``ЕВЖ6НОЧ8ОЗ327``. :func:`parse_scan` folds such text back to the Latin keys before parsing. The
letter map is a copy of the one in ``hardware.uid``: the store never imports the hardware layer.
"""

from __future__ import annotations

import csv
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import segno
from sqlalchemy import Table, select

from store.models import Attendee
from store.service import Store

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "LATIN_TO_RU",
    "QR_PREFIX",
    "RU_TO_LATIN",
    "ExportReport",
    "export_invites",
    "fold_layout",
    "new_code",
    "parse_scan",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]

#: Invitation-code alphabet: digits and capitals without the look-alikes 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
#: What an invitation QR carries before the code.
QR_PREFIX = "TD:"

# The same keys under the Russian (ЙЦУКЕН) and the Latin (QWERTY) layout. Copied from
# hardware/uid.py on purpose: store must not import hardware.
_RU = "йцукенгшщзхъфывапролджэячсмитьбюёЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮЁ"
_EN = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>~"
#: Russian-layout characters to the Latin characters on the same keys.
RU_TO_LATIN = str.maketrans(_RU, _EN)
#: Latin characters to the Russian-layout characters on the same keys.
LATIN_TO_RU = str.maketrans(_EN, _RU)

#: Codes from other registration systems may be longer or carry dashes: accept those too.
_CODE = re.compile(r"^[0-9A-Z][0-9A-Z-]{3,31}$")
_BASE = len(CODE_ALPHABET)


def fold_layout(text: str) -> str:
    """Map characters typed under a Russian layout back to the Latin keys that produced them."""
    return text.translate(RU_TO_LATIN)


def new_code() -> str:
    """A fresh random invitation code (10 characters of :data:`CODE_ALPHABET`)."""
    # One call to the CSPRNG for the whole code, then base-31 digits: an import of 100,000
    # people makes 100,000 codes, and ten secrets.choice calls each cost a second in total.
    number = secrets.randbelow(_BASE**CODE_LENGTH)
    chars = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, _BASE)
        chars.append(CODE_ALPHABET[digit])
    return "".join(chars)


def normalise_code(text: str) -> str | None:
    """``text`` as a stored invitation code (upper case, layout folded), or None if it is none."""
    code = fold_layout(text.strip()).upper()
    return code if _CODE.match(code) else None


def parse_scan(text: str) -> str | None:
    """The invitation code in a scanned QR (``TD:CODE``, any case, any layout), or None.

    Anything without the prefix is not an invitation: a band UID, even all digits, gives None.
    """
    folded = fold_layout(text.strip()).upper()
    if not folded.startswith(QR_PREFIX):
        return None
    return normalise_code(folded[len(QR_PREFIX) :])


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What :func:`export_invites` wrote."""

    directory: str
    csv_path: str
    invites: int
    """Attendees written (each with a PNG and an SVG)."""
    without_email: int
    """Of those, how many have no e-mail address (the mail merge cannot reach them)."""


def qr_text(code: str) -> str:
    """What the invitation QR of ``code`` carries."""
    return QR_PREFIX + code


def export_invites(store: Store, directory: str | Path) -> ExportReport:
    """Write a QR (``CODE.png`` and ``CODE.svg``) per active attendee and ``invites.csv``.

    The CSV (UTF-8 with a BOM, so spreadsheet programs read Cyrillic right) has the columns
    name, email, code, png, svg; the file columns name files in the same directory, ready for a
    mail merge. Running it again overwrites the same files.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    with store.db.read() as conn:
        rows = conn.execute(
            select(attendee_t.c.name, attendee_t.c.email, attendee_t.c.code)
            .where(attendee_t.c.active.is_(True))
            .order_by(attendee_t.c.name, attendee_t.c.id)
        ).all()
    csv_path = target / "invites.csv"
    without_email = 0
    with csv_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "code", "png", "svg"])
        for row in rows:
            png, svg = f"{row.code}.png", f"{row.code}.svg"
            # Error correction M: a phone screen with a crack or glare still scans.
            qr = segno.make(qr_text(row.code), error="m", micro=False)
            qr.save(str(target / png), scale=8, border=4)
            qr.save(str(target / svg), scale=8, border=4, xmldecl=False)
            writer.writerow([row.name, row.email or "", row.code, png, svg])
            without_email += not row.email
    return ExportReport(
        directory=str(target),
        csv_path=str(csv_path),
        invites=len(rows),
        without_email=without_email,
    )
