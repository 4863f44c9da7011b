"""Generate the deterministic demo attendee list, ``store/demo/attendees.csv``.

Run from the project root::

    .venv/bin/python -m store.demo.generate

The output depends only on the seed and on :mod:`store.demo.names`: every random choice comes
from one ``random.Random(SEED)`` consumed in a fixed order, and nothing that affects the output
iterates a set or uses ``hash()`` (both vary between runs). Running it twice gives
byte-identical files; the tests check that.

The data set: 800 attendees, 440 with Russian names, 160 Kazakh, 200 English; 300 of them
(chosen by the RNG, spread through the list) are already checked in with a wristband bound,
so they carry a band UID and the band's colour.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import astuple, dataclass
from pathlib import Path

from store.demo import names

__all__ = [
    "BANDED_COUNT",
    "CODE_ALPHABET",
    "COLUMNS",
    "DEFAULT_PATH",
    "FIELDS",
    "GROUP_COUNTS",
    "ROW_COUNT",
    "SEED",
    "DemoAttendee",
    "build_attendees",
    "generate",
    "main",
    "transliterate",
]

SEED = 20261121
ROW_COUNT = 800
BANDED_COUNT = 300

#: Language group -> number of attendees. Exact counts (55 % / 20 % / 25 %), not probabilities,
#: so the mix never drifts when the lists change.
GROUP_COUNTS: dict[str, int] = {"ru": 440, "kk": 160, "en": 200}

#: Invitation-code alphabet: no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10

DEFAULT_PATH = Path(__file__).with_name("attendees.csv")

COLUMNS = (
    "code",
    "name",
    "email",
    "company",
    "field",
    "tags",
    "registered_via",
    "pre_event_points",
    "band_uid",
    "colour",
)

FIELDS = ("development", "management", "qa", "design", "other")
FIELD_WEIGHTS = (45, 20, 15, 10, 10)

#: Wristband colour by field: four colours, "other" shares blue with development.
FIELD_COLOURS: dict[str, str] = {
    "development": "blue",
    "management": "orange",
    "qa": "green",
    "design": "purple",
    "other": "blue",
}

REGISTRATION_CHANNELS = ("site", "partner", "invite", "walk-in-list")
REGISTRATION_WEIGHTS = (70, 12, 12, 6)

#: Tags a person of a field is more likely to pick (weight 4 instead of 1), so the personalised
#: feed has something to rank.
FIELD_AFFINITY: dict[str, tuple[str, ...]] = {
    "development": ("backend", "frontend", "databases", "devops", "infra", "mobile", "ml"),
    "management": ("people", "product", "agile", "career"),
    "qa": ("qa", "security", "agile"),
    "design": ("ux", "product", "frontend", "mobile"),
    "other": ("career", "people", "data"),
}

#: People the tests rely on, at fixed row positions: (position, group, given name, surname).
#: Their other columns are drawn like everybody else's.
FIXED_PEOPLE: tuple[tuple[int, str, str, str], ...] = (
    (3, "ru", "Иван", "Петров"),
    (17, "kk", "Әсел", "Нұрланова"),
    (29, "en", "Anna", "Smith"),
    (58, "ru", "Пётр", "Семёнов"),
    (101, "ru", "Алёна", "Королёва"),
    (202, "ru", "Фёдор", "Воробьёв"),
    (404, "kk", "Нұрлан", "Сәрсенбаев"),
)

# fmt: off
# ICAO Doc 9303 (the Russian passport scheme) except ю -> yu and я -> ya, which read more
# naturally in an e-mail address. ё -> e as in passports, matching the search folding ё -> е.
_RUSSIAN_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}
# Each Kazakh-only letter folds to the plain Latin letter of its nearest Russian sound (қ -> k,
# not the q of the 2021 Kazakh Latin alphabet), which is how people type these names in e-mail.
_KAZAKH_LATIN: dict[str, str] = {
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
}
# fmt: on
_LATIN: dict[str, str] = {**_RUSSIAN_LATIN, **_KAZAKH_LATIN}
_NOT_LOCAL_PART = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class DemoAttendee:
    """One row of the demo CSV, plus the language group it was drawn from (not written)."""

    code: str
    name: str
    email: str
    company: str
    field: str
    tags: str
    registered_via: str
    pre_event_points: int
    band_uid: str
    colour: str
    group: str

    def csv_row(self) -> tuple[str | int, ...]:
        """The values in :data:`COLUMNS` order."""
        return astuple(self)[: len(COLUMNS)]


def transliterate(text: str) -> str:
    """Lower-case ASCII for an e-mail local part: Cyrillic (Russian and Kazakh) to Latin.

    Anything that is still not ``[a-z0-9]`` afterwards (apostrophes, hyphens, spaces) is dropped.
    """
    latin = "".join(_LATIN.get(char, char) for char in text.lower())
    return _NOT_LOCAL_PART.sub("", latin)


def _pick_name(rng: random.Random, group: str) -> tuple[str, str]:
    """A (given name, surname) of ``group``; about 60 % men, as at an IT conference."""
    male = rng.random() < 0.6
    if group == "en":
        given = rng.choice(names.ENGLISH_MALE_GIVEN if male else names.ENGLISH_FEMALE_GIVEN)
        return given, rng.choice(names.ENGLISH_SURNAMES)
    if group == "ru":
        male_given, female_given = names.RUSSIAN_MALE_GIVEN, names.RUSSIAN_FEMALE_GIVEN
        surnames = names.RUSSIAN_SURNAMES
    else:
        male_given, female_given = names.KAZAKH_MALE_GIVEN, names.KAZAKH_FEMALE_GIVEN
        surnames = names.KAZAKH_SURNAMES
    given = rng.choice(male_given if male else female_given)
    masculine, feminine = rng.choice(surnames)
    return given, masculine if male else feminine


def _pick_tags(rng: random.Random, field: str) -> str:
    """1-4 distinct tags, weighted towards the field's interests, in :data:`INTEREST_TAGS` order."""
    count = rng.randint(1, 4)
    remaining = list(names.INTEREST_TAGS)
    picked: list[str] = []
    for _ in range(count):
        weights = [4 if tag in FIELD_AFFINITY[field] else 1 for tag in remaining]
        tag = rng.choices(remaining, weights=weights)[0]
        remaining.remove(tag)
        picked.append(tag)
    picked.sort(key=names.INTEREST_TAGS.index)
    return ";".join(picked)


def _invitation_code(rng: random.Random, taken: set[str]) -> str:
    """A fresh 10-character invitation code, not in ``taken``; recorded there."""
    while True:
        code = "".join(rng.choices(CODE_ALPHABET, k=CODE_LENGTH))
        if code not in taken:
            taken.add(code)
            return code


def _band_uid(rng: random.Random, taken: set[str]) -> str:
    """A 7-byte NXP NTAG UID: manufacturer byte 0x04, then six random bytes, upper-case hex."""
    while True:
        uid = "04" + "".join(f"{rng.randrange(256):02X}" for _ in range(6))
        if uid not in taken:
            taken.add(uid)
            return uid


def _email(given: str, surname: str, domain: str, taken: set[str]) -> str:
    """``given.surname@domain`` in ASCII; a collision gets a digit suffix (ivan.petrov2@...)."""
    local = f"{transliterate(given)}.{transliterate(surname)}"
    address = f"{local}@{domain}"
    suffix = 2
    while address in taken:
        address = f"{local}{suffix}@{domain}"
        suffix += 1
    taken.add(address)
    return address


def build_attendees(seed: int = SEED) -> list[DemoAttendee]:
    """The demo attendees, in file order. The same seed always gives the same list."""
    rng = random.Random(seed)

    # Language groups: exact counts shuffled into the free positions, then the fixed people
    # dropped into theirs (ascending, so earlier inserts do not shift later positions).
    remaining_counts = dict(GROUP_COUNTS)
    for _, group, _, _ in FIXED_PEOPLE:
        remaining_counts[group] -= 1
    groups: list[str] = [g for g, n in remaining_counts.items() for _ in range(n)]
    rng.shuffle(groups)
    fixed_names: dict[int, tuple[str, str]] = {}
    for position, group, given, surname in sorted(FIXED_PEOPLE):
        groups.insert(position, group)
        fixed_names[position] = (given, surname)

    banded = frozenset(rng.sample(range(ROW_COUNT), BANDED_COUNT))

    codes: set[str] = set()
    emails: set[str] = set()
    uids: set[str] = set()
    attendees: list[DemoAttendee] = []
    for index, group in enumerate(groups):
        # Draw a name for fixed people too, so the RNG stream does not depend on who is fixed.
        drawn = _pick_name(rng, group)
        given, surname = fixed_names.get(index, drawn)
        company, domain = rng.choice(names.COMPANIES)
        field = rng.choices(FIELDS, weights=FIELD_WEIGHTS)[0]
        tags = _pick_tags(rng, field)
        registered_via = rng.choices(REGISTRATION_CHANNELS, weights=REGISTRATION_WEIGHTS)[0]
        points = 0 if rng.random() < 0.6 else rng.randrange(5, 61, 5)
        band_uid = _band_uid(rng, uids) if index in banded else ""
        attendees.append(
            DemoAttendee(
                code=_invitation_code(rng, codes),
                name=f"{given} {surname}",
                email=_email(given, surname, domain, emails),
                company=company,
                field=field,
                tags=tags,
                registered_via=registered_via,
                pre_event_points=points,
                band_uid=band_uid,
                colour=FIELD_COLOURS[field] if band_uid else "",
                group=group,
            )
        )
    return attendees


def generate(path: Path | str = DEFAULT_PATH) -> list[DemoAttendee]:
    """Write the demo CSV to ``path`` (UTF-8, no BOM, ``\\n`` line ends) and return the rows."""
    attendees = build_attendees()
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(attendee.csv_row() for attendee in attendees)
    return attendees


def main() -> None:
    """Write :data:`DEFAULT_PATH` and print a one-line summary."""
    attendees = generate(DEFAULT_PATH)
    per_group = {group: sum(a.group == group for a in attendees) for group in GROUP_COUNTS}
    banded = sum(bool(a.band_uid) for a in attendees)
    print(f"wrote {len(attendees)} attendees ({per_group}, {banded} with a band) to {DEFAULT_PATH}")


if __name__ == "__main__":
    main()
