"""Finding an attendee at the desk by any word of their name, company, e-mail or code.

SQLite's ``LIKE``, ``NOCASE`` and ``lower()`` fold ASCII only, FTS5 does not fold ё→е, and
PostgreSQL has no FTS5 (STYLE.md). So the folding happens here, in Python, and the words are
stored in the ``search_key`` table; a search is a few B-tree prefix ranges
(``key >= :p AND key < :p_next``), the same SQL on both engines.

Every key is in one Latin form:

- case folded (Cyrillic too), ``ё`` read as ``е``, Latin diacritics dropped (Ä→a, ñ→n);
- Cyrillic and Kazakh letters transliterated (ә→a, ғ→g, қ→k, ң→n, ө→o, ұ→u, ү→u, һ→h, і→i,
  х→kh, ц→ts, ж→zh, ю→iu, я→ia, й→i);
- ``y`` read as ``i`` and ``q`` as ``k`` on both sides, so that Dmitry/Dmitriy/Dmitrii,
  Sergey/Sergei, Yana/Iana, Natalya/Natalia and Aqbota/Akbota meet without extra keys;
- a word whose spelling people vary gets a few extra keys: е at the start of a word or after a
  vowel as "e" or "ye" (Elena/Yelena), ё as "e" or "yo" (Petr/Pyotr), х as "kh" or "h"
  (Mikhail/Mihail), кс as "ks" or "x" (Aleksei/Alexei), ь before a vowel as "" or "i"
  (Ilin/Ilyin), a final ия as "iya" or "ia" (Mariya/Maria), ң as "n" or "ng", й before и or і
  as "i" or nothing (Seiitov/Seitov).

A query is read as typed and, when it looks like it was typed under the other keyboard layout,
also as the keys it was typed with ("bdfy" is Иван on a Russian keyboard, "фттф" is Anna on a
Latin one). Every word of a reading must be the start of some key of the same attendee.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, delete, exists, select

from store.invites import LATIN_TO_RU, RU_TO_LATIN, normalise_code, parse_scan
from store.models import Attendee, SearchKey
from store.service import Store

__all__ = [
    "AttendeeHit",
    "index_attendees",
    "query_variants",
    "search_attendees",
    "search_keys",
]

attendee_t: Table = Attendee.__table__  # type: ignore[attr-defined]
search_key_t: Table = SearchKey.__table__  # type: ignore[attr-defined]

#: Longest key stored (the column's length); longer words are cut, which keeps prefixes working.
KEY_LENGTH = 100
#: At most this many spellings of one word are stored (the first is the plain one).
MAX_SPELLINGS = 6
#: Rows inserted per statement when indexing many attendees.
BATCH = 5000

# fmt: off
_CYRILLIC: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "iu",
    "я": "ia",
    # Kazakh letters: the plain Latin letter of the nearest Russian sound, as people type them.
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
    # Ukrainian and Belarusian letters that turn up in names.
    "є": "ie", "ї": "i", "ў": "u", "ґ": "g",
}
# fmt: on
#: Letters after which a Cyrillic е is pronounced (and often written) "ye".
_YE_AFTER = frozenset("аеёиоуыэюяәөұүіьъ")
#: Vowels after which a soft sign is often written "i" (Ильин: Ilin or Ilyin).
_IOTATED = frozenset("яюеёи")
#: Canonical Latin letters: the same on the stored and the typed side.
_LATIN_CANON = {"y": "i", "q": "k", "ı": "i", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d"}
#: Apostrophes inside a word (O'Connor) join it rather than split it.
_APOSTROPHES = "'’ʼ`´"
_DROP_APOSTROPHES = str.maketrans(dict.fromkeys(_APOSTROPHES))
#: Canonical Latin for plain ASCII text, the common case, in one ``str.translate``.
_ASCII_CANON = str.maketrans({"y": "i", "q": "k"})
#: A word: a run of letters and digits (``\w`` without the underscore).
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=4096)
def _latin_char(char: str) -> str:
    """A non-Cyrillic character as canonical Latin: diacritics dropped, y→i, q→k."""
    mapped = _LATIN_CANON.get(char)
    if mapped is not None:
        return mapped
    if char.isascii():
        return char
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    return "".join(_LATIN_CANON.get(c, c) for c in stripped)


def _fold(text: str) -> str:
    """Case folded, composed (a decomposed й stays one letter), apostrophes removed."""
    if text.isascii():
        return text.casefold().translate(_DROP_APOSTROPHES)
    return unicodedata.normalize("NFC", text).casefold().translate(_DROP_APOSTROPHES)


def _words(text: str) -> list[str]:
    """The words (runs of letters and digits) of already folded text."""
    return _WORD.findall(text)


def _segments(word: str) -> list[tuple[str, ...]]:
    """The word's letters as Latin options, the usual spelling first."""
    segments: list[tuple[str, ...]] = []
    i, n = 0, len(word)
    while i < n:
        char = word[i]
        following = word[i + 1] if i + 1 < n else ""
        previous = word[i - 1] if i else ""
        if char == "к" and following == "с":
            segments.append(("ks", "x"))
            i += 2
            continue
        if char == "и" and following == "я" and i + 2 == n:
            segments.append(("iia", "ia"))
            i += 2
            continue
        if char == "е":
            segments.append(("e", "ie") if not previous or previous in _YE_AFTER else ("e",))
        elif char == "ё":
            segments.append(("e", "io"))
        elif char == "х":
            segments.append(("kh", "h"))
        elif char == "ь" and following in _IOTATED and following:
            segments.append(("", "i"))
        elif char == "й" and following in ("и", "і"):
            segments.append(("i", ""))  # Сейітов: Seiitov or Seitov
        elif char == "ң":
            segments.append(("n", "ng"))
        elif char in _CYRILLIC:
            segments.append((_CYRILLIC[char],))
        else:
            segments.append((_latin_char(char),))
        i += 1
    return segments


@lru_cache(maxsize=65536)
def _spellings(word: str) -> tuple[str, ...]:
    """The Latin spellings stored for one folded word: the plain one first, then variants.

    Not every combination (that would grow as 2^n): the plain spelling, every spelling with one
    letter read the other way, and the one with all of them read the other way.
    """
    if word.isascii():
        return (word.translate(_ASCII_CANON)[:KEY_LENGTH],)
    segments = _segments(word)
    plain = [options[0] for options in segments]
    spellings = ["".join(plain)]
    ambiguous = [i for i, options in enumerate(segments) if len(options) > 1]
    if ambiguous:
        every = list(plain)
        for i in ambiguous:
            every[i] = segments[i][1]
        spellings.append("".join(every))
        for i in ambiguous:
            one = list(plain)
            one[i] = segments[i][1]
            spellings.append("".join(one))
    unique = [s[:KEY_LENGTH] for s in dict.fromkeys(spellings) if s]
    return tuple(unique[:MAX_SPELLINGS])


def _plain(text: str) -> str:
    """Folded text in its plain Latin spelling, punctuation kept (e-mail addresses, codes)."""
    folded = _fold(text).strip()
    if folded.isascii():
        return folded.translate(_ASCII_CANON)[:KEY_LENGTH]
    return "".join(options[0] for options in _segments(folded))[:KEY_LENGTH]


def search_keys(name: str, email: str | None, company: str, code: str) -> set[str]:
    """Every key an attendee is found by (pure: the same input always gives the same keys).

    The words of the name and the company, each in a few spellings; the e-mail address whole,
    its local part whole and the words of the local part; and the invitation code.
    """
    keys: set[str] = set()
    for text in (name, company):
        folded = _fold(text or "")
        words = _words(folded)
        if any(mark in (text or "") for mark in _APOSTROPHES):
            # O'Connor is found as "oconnor" and as "connor".
            words += _words(unicodedata.normalize("NFC", text).casefold())
        for word in words:
            keys.update(_spellings(word))
    if email:
        address = _fold(email).strip()
        keys.add(_plain(address))
        local = address.partition("@")[0]
        if local:
            keys.add(_plain(local))
            for word in _words(local):
                keys.update(_spellings(word))
    if code:
        keys.add("".join(_words(_plain(code))))
    keys.discard("")
    return keys


def _reading(text: str) -> list[str]:
    """One reading of a query: its words in the stored spelling (an e-mail stays whole)."""
    folded = _fold(text)
    words: list[str] = []
    for token in folded.split():
        if "@" in token:
            words.append(_plain(token))
        else:
            words.extend(_plain(word) for word in _words(token))
    return [w for w in words if w]


def _has_cyrillic(text: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in text)


def _has_latin(text: str) -> bool:
    return any(char.isascii() and char.isalpha() for char in text)


def query_variants(text: str) -> list[str]:
    """The readings of a typed query, each as space-separated words in the stored spelling.

    The first is the query as typed. Then, when the query could have been typed under the other
    keyboard layout, the same keys read in that layout: Latin letters meant as Russian ("bdfy" →
    "ivan"), or Russian letters meant as Latin ("фттф" → "anna"). An e-mail query has one reading.
    """
    readings = [" ".join(_reading(text))]
    stripped = text.strip()
    if "@" not in stripped:
        if _has_cyrillic(stripped):
            readings.append(" ".join(_reading(stripped.translate(RU_TO_LATIN))))
        elif _has_latin(stripped):
            readings.append(" ".join(_reading(stripped.translate(LATIN_TO_RU))))
    return [r for r in dict.fromkeys(readings) if r]


# -- the database side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttendeeHit:
    """One person in the desk's search list."""

    attendee_id: int
    name: str
    email: str | None
    company: str
    code: str
    checked_in: bool
    colour: str | None
    """The colour group id handed out at check-in (None before)."""


def _next(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@lru_cache(maxsize=32)
def _candidates(words: int, whole: bool) -> Select[Any]:
    """Attendees having a key that starts with (``whole``: is) each of ``words`` words.

    Prebuilt per word count. The first word drives an index range scan; each further one is an
    EXISTS probe on the (attendee_id, key) index for that candidate, so the scan stops after
    ``cap`` people.
    """

    def matches(table: Any, n: int) -> list[Any]:
        if whole:
            return [table.c.key == bindparam(f"p{n}")]
        return [table.c.key >= bindparam(f"p{n}"), table.c.key < bindparam(f"q{n}")]

    first = search_key_t.alias("k0")
    conditions = matches(first, 0)
    for n in range(1, words):
        other = search_key_t.alias(f"k{n}")
        conditions.append(
            exists()
            .where(other.c.attendee_id == first.c.attendee_id, *matches(other, n))
            .correlate(first)
        )
    return select(first.c.attendee_id).where(*conditions).distinct().limit(bindparam("cap"))


_HIT_COLUMNS = (
    attendee_t.c.id,
    attendee_t.c.name,
    attendee_t.c.email,
    attendee_t.c.company,
    attendee_t.c.code,
    attendee_t.c.checked_in_at,
    attendee_t.c.colour,
)
_BY_IDS = select(*_HIT_COLUMNS).where(attendee_t.c.id.in_(bindparam("ids", expanding=True)))
_BY_CODE = select(attendee_t.c.id).where(attendee_t.c.code == bindparam("code"))
_BY_EMAIL = select(attendee_t.c.id).where(attendee_t.c.email == bindparam("email"))


def _matching(conn: Connection, words: Sequence[str], cap: int, *, whole: bool) -> list[int]:
    # The longest word is usually the rarest: let it drive the scan.
    ordered = sorted(words, key=len, reverse=True)
    params: dict[str, Any] = {"cap": cap}
    for n, word in enumerate(ordered):
        params[f"p{n}"] = word
        if not whole:
            params[f"q{n}"] = _next(word)
    return [int(row[0]) for row in conn.execute(_candidates(len(ordered), whole), params)]


def search_attendees(store: Store, text: str, limit: int = 20) -> tuple[AttendeeHit, ...]:
    """People matching ``text``: an exact invitation code or e-mail first, then by name.

    ``text`` may be a scanned QR (``TD:CODE``), a code, an e-mail (or its start), or words that
    each start a word of the name, company or e-mail, in any case, Cyrillic or Latin, typed in
    either keyboard layout. Within "by name", people whose words the query names whole ("Пётр")
    come before those it only starts ("Петров"), and people found only through the other
    layout's reading come after those found as typed. A very broad query (one or two letters)
    looks at the first few hundred people whose keys match, in key order.
    """
    stripped = text.strip()
    if not stripped or limit <= 0:
        return ()
    cap = max(limit * 10, 200)
    tiers: dict[int, int] = {}
    with store.db.read() as conn:
        code = parse_scan(stripped) or normalise_code(stripped)
        if code is not None:
            for found in conn.execute(_BY_CODE, {"code": code}).scalars():
                tiers.setdefault(int(found), 0)
        if "@" in stripped:
            email = stripped.casefold()
            for found in conn.execute(_BY_EMAIL, {"email": email}).scalars():
                tiers.setdefault(int(found), 0)
        for n, reading in enumerate(query_variants(stripped)):
            words = reading.split()
            for found in _matching(conn, words, cap, whole=True):
                tiers.setdefault(found, 2 * n + 1)
            for found in _matching(conn, words, cap, whole=False):
                tiers.setdefault(found, 2 * n + 2)
        if not tiers:
            return ()
        rows = list(conn.execute(_BY_IDS, {"ids": list(tiers)}))
    rows.sort(key=lambda r: (tiers[r.id], r.name.casefold(), r.id))
    return tuple(
        AttendeeHit(
            attendee_id=r.id,
            name=r.name,
            email=r.email,
            company=r.company,
            code=r.code,
            checked_in=r.checked_in_at is not None,
            colour=r.colour,
        )
        for r in rows[:limit]
    )


def index_attendees(
    conn: Connection,
    people: Iterable[tuple[int, str, str | None, str, str]],
    *,
    replace: bool = False,
) -> int:
    """Write the search keys of ``(attendee_id, name, email, company, code)`` in bulk.

    Runs inside the caller's write transaction. ``replace=True`` first drops the keys those
    attendees had (after a change of name, e-mail, company or code). Returns the keys written.
    """
    written = 0
    batch: list[tuple[str, int]] = []
    ids: list[int] = []
    for attendee_id, name, email, company, code in people:
        ids.append(attendee_id)
        batch.extend((key, attendee_id) for key in search_keys(name, email, company, code))
        if len(batch) >= BATCH:
            written += _flush(conn, batch, ids, replace)
            batch, ids = [], []
    if batch or ids:
        written += _flush(conn, batch, ids, replace)
    return written


def _flush(conn: Connection, batch: list[tuple[str, int]], ids: list[int], replace: bool) -> int:
    if replace and ids:
        conn.execute(delete(search_key_t).where(search_key_t.c.attendee_id.in_(ids)))
    if batch:
        # The driver's executemany with plain tuples: a million keys spend no time in
        # SQLAlchemy's per-row parameter processing (two plain columns need none).
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {search_key_t.name} (key, attendee_id) VALUES ({mark}, {mark})", batch
        )
    return len(batch)
