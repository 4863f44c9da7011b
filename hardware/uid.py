"""UIDs, normalised once: upper-case hex in anticollision order, no separators."""

from __future__ import annotations

import re

__all__ = [
    "RU_TO_LATIN",
    "clean_scan",
    "decimal_to_uid",
    "fold_layout",
    "normalise_uid",
    "reverse_uid",
]

# A keyboard wedge sends key codes. Under a Russian layout the keys of "04A1" type "04Ф1": map
# each Cyrillic character back to the Latin character on the same key (ЙЦУКЕН -> QWERTY).
# Only letters are folded: punctuation such as ":" means the same thing in both layouts as far as
# anyone can tell, while every Cyrillic letter in a scan can only have come from a layout mix-up.
_RU = "йцукенгшщзхъфывапролджэячсмитьбюёЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮЁ"
_EN = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>~"
RU_TO_LATIN = str.maketrans(_RU, _EN)

_HEX = re.compile(r"^[0-9A-F]+$")


def fold_layout(text: str) -> str:
    """Map characters typed under a Russian layout back to the Latin keys that produced them."""
    return text.translate(RU_TO_LATIN)


def clean_scan(raw: str) -> str:
    """What a reader typed, folded to the Latin layout, upper-cased, without separators.

    Separators are ":", "-" and spaces (readers and people group bytes with them).
    """
    text = fold_layout(raw.strip()).upper()
    for sep in (":", "-", " "):
        text = text.replace(sep, "")
    return text


def normalise_uid(raw: str) -> str | None:
    """A UID as tapdesk stores it, or None if ``raw`` is not a hex UID.

    Accepts separators (":", "-", " "), lower case and Russian-layout characters; the result is
    4, 7 or 10 bytes of upper-case hex.
    """
    text = clean_scan(raw)
    if not _HEX.match(text) or len(text) not in (8, 14, 20):
        return None
    return text


def reverse_uid(uid: str) -> str:
    """``uid`` (hex) with its bytes in the opposite order: ``1C78F2BF`` -> ``BFF2781C``."""
    return bytes.fromhex(uid)[::-1].hex().upper()


def decimal_to_uid(digits: str) -> str | None:
    """A 4-byte UID that a reader typed as a 10-digit decimal number, or None.

    Cheap readers print the UID's bytes as one little-endian number: the UID ``1C78F2BF`` (in
    anticollision order) arrives as ``3220338716`` (``0xBFF2781C``). The result is in
    anticollision order.
    """
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        return None
    value = int(digits)
    if value > 0xFFFFFFFF:
        return None
    return value.to_bytes(4, "little").hex().upper()
