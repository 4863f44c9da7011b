"""The Russian catalogue is complete, its placeholders match, and the compiled file is current."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "store" / "locale" / "ru" / "LC_MESSAGES"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def source_messages() -> set[str]:
    found: set[str] = set()
    for package in ("tui", "screens", "hardware", "store"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, keywords=KEYWORDS, method_map=[("**.py", "python")]
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_in_the_code_is_translated_to_russian() -> None:
    catalogue = read_po(BytesIO((LOCALE / "tapdesk.po").read_bytes()))
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalogue
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    missing = sorted(source_messages() - translated)
    assert not missing, f"run `make i18n` and translate: {missing}"


def test_placeholders_survive_translation() -> None:
    catalogue = read_po(BytesIO((LOCALE / "tapdesk.po").read_bytes()))
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"\{[^}]*\}", ids[-1]))
        for text in strings:
            assert set(re.findall(r"\{[^}]*\}", text)) <= wanted, (ids[0], text)


def test_compiled_catalogue_matches_the_po_file() -> None:
    po = read_po(BytesIO((LOCALE / "tapdesk.po").read_bytes()))
    mo = read_mo(BytesIO((LOCALE / "tapdesk.mo").read_bytes()))

    def pairs(catalogue: object) -> dict[str, tuple[str, ...]]:
        result = {}
        for m in catalogue:  # type: ignore[attr-defined]
            strings = tuple(m.string) if isinstance(m.string, (tuple, list)) else (m.string,)
            if m.id and all(strings) and not m.fuzzy:
                result[m.id if isinstance(m.id, str) else m.id[0]] = strings
        return result

    po_pairs, mo_all = pairs(po), pairs(mo)
    # Babel compiles an untranslated plural with the English forms: compare translated ones.
    mo_pairs = {key: value for key, value in mo_all.items() if key in po_pairs}
    assert po_pairs == mo_pairs, "run `make i18n` to compile the catalogue"
