"""UIDs, normalised once: upper-case hex in anticollision order, no separators."""

from __future__ import annotations

import re

__all__ = ["RU_TO_LATIN", "fold_layout", "normalise_uid"]

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


def normalise_uid(raw: str) -> str | None:
    """A UID as tapdesk stores it, or None if ``raw`` is not a hex UID.

    Accepts separators (":", "-", " "), lower case and Russian-layout characters; the result is
    4, 7 or 10 bytes of upper-case hex.
    """
    text = fold_layout(raw.strip()).upper()
    for sep in (":", "-", " "):
        text = text.replace(sep, "")
    if not _HEX.match(text) or len(text) not in (8, 14, 20):
        return None
    return text
