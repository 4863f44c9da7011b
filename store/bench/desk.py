"""``tapdesk bench desk``: the registration desk at the size of a big event, on SQLite.

- ``import_s``: importing a registration list of ``attendees`` people (a CSV made here from the
  demo's name lists) into an empty database: attendees, accounts, search keys.
- ``search_p50_ms`` / ``search_p99_ms``: :func:`store.search.search_attendees` over a seeded mix
  of what desks type: names as written, transliterated (at least 30 %), typed in the wrong
  keyboard layout (at least 10 %), two words, e-mails and invitation codes.
- ``checkin_p50_ms`` / ``checkin_p99_ms`` and ``bind_p50_ms`` / ``bind_p99_ms``: one check-in and
  one band binding (with pre-event points waiting for some) as a desk runs them.
- ``violations``: what :meth:`Store.verify` finds afterwards (0 expected).

Targets at 100,000 attendees: import < 20 s, search p99 < 10 ms, check-in and bind p99 < 5 ms.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from store.bench.common import percentile, scratch_database
from store.context import Actor
from store.demo import names
from store.demo.build import DEMO_EVENT
from store.demo.generate import FIELD_WEIGHTS, FIELDS, transliterate
from store.desk import bind_band, check_in
from store.eventfile import load_event
from store.imports import import_attendees, import_points
from store.invites import LATIN_TO_RU, QR_PREFIX, RU_TO_LATIN
from store.models import Attendee
from store.search import search_attendees
from store.service import Store

__all__ = ["run_desk_bench", "write_attendees_csv"]

SEED = 20261127


def write_attendees_csv(path: Path, count: int, seed: int = SEED) -> None:
    """``count`` attendees drawn from the demo's name lists, with unique e-mails (no codes)."""
    rng = random.Random(seed)
    groups = [
        ("ru", names.RUSSIAN_MALE_GIVEN, names.RUSSIAN_FEMALE_GIVEN, names.RUSSIAN_SURNAMES),
        ("kk", names.KAZAKH_MALE_GIVEN, names.KAZAKH_FEMALE_GIVEN, names.KAZAKH_SURNAMES),
    ]
    taken: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email", "company", "field", "tags"])
        for _ in range(count):
            male = rng.random() < 0.6
            roll = rng.random()
            if roll < 0.25:
                given = rng.choice(names.ENGLISH_MALE_GIVEN if male else names.ENGLISH_FEMALE_GIVEN)
                surname = rng.choice(names.ENGLISH_SURNAMES)
            else:
                _, men, women, surnames = groups[0] if roll < 0.8 else groups[1]
                given = rng.choice(men if male else women)
                surname = rng.choice(surnames)[0 if male else 1]
            company, domain = rng.choice(names.COMPANIES)
            local = f"{transliterate(given)}.{transliterate(surname)}"
            email, n = f"{local}@{domain}", 2
            while email in taken:
                email, n = f"{local}{n}@{domain}", n + 1
            taken.add(email)
            field = rng.choices(FIELDS, weights=FIELD_WEIGHTS)[0]
            tags = ";".join(rng.sample(names.INTEREST_TAGS, rng.randint(1, 4)))
            writer.writerow([f"{given} {surname}", email, company, field, tags])


# Spellings people type for Cyrillic names that the demo's e-mail transliteration does not use.
_RESPELL = (("ii", "y"), ("kh", "h"), ("ia", "ya"), ("iu", "yu"), ("ei", "ey"), ("ks", "x"))
#: What a Kazakh name becomes typed on a Russian keyboard (no Kazakh letters on it).
_RUSSIAN_KEYBOARD = str.maketrans("әғқңөұүһі", "агкноуухи")


def _typed_latin(rng: random.Random, word: str) -> str:
    latin = transliterate(word)
    if rng.random() < 0.5:
        old, new = rng.choice(_RESPELL)
        latin = latin.replace(old, new, 1)
    if word[:1] in "Ее" and rng.random() < 0.5:
        latin = "y" + latin  # Yevgeny, Yelena
    return latin


def _prefix(rng: random.Random, word: str) -> str:
    return word[: rng.randint(min(3, len(word)), len(word))]


def _query_mix(rng: random.Random, people: list[Any], count: int) -> list[tuple[str, str]]:
    """(kind, query) pairs: 25 % as written, 35 % transliterated, 12 % wrong layout, 13 % two
    words, 8 % e-mail, 7 % code."""
    kinds = ["written", "translit", "layout", "two_words", "email", "code"]
    weights = [25, 35, 12, 13, 8, 7]
    queries: list[tuple[str, str]] = []
    cyrillic_people = [p for p in people if not p.name.isascii()]
    while len(queries) < count:
        kind = rng.choices(kinds, weights=weights)[0]
        person = rng.choice(cyrillic_people if kind == "translit" else people)
        given, _, surname = person.name.partition(" ")
        cyrillic = not person.name.isascii()
        word = rng.choice([given, surname])
        if kind == "translit":
            query = _prefix(rng, _typed_latin(rng, word))
        elif kind == "written":
            query = _prefix(rng, word)
        elif kind == "layout":
            table = RU_TO_LATIN if cyrillic else LATIN_TO_RU
            query = _prefix(rng, word.lower().translate(_RUSSIAN_KEYBOARD)).translate(table)
        elif kind == "two_words":
            query = f"{given} {_prefix(rng, surname)}"
            if cyrillic and rng.random() < 0.5:
                query = f"{_typed_latin(rng, given)} {_prefix(rng, transliterate(surname))}"
        elif kind == "email":
            query = person.email if rng.random() < 0.5 else person.email.split("@")[0]
        else:
            query = person.code if rng.random() < 0.5 else QR_PREFIX + person.code
        queries.append((kind, query))
    return queries


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run_desk_bench(
    attendees: int = 100_000, *, searches: int = 2000, desk_ops: int = 1000
) -> dict[str, Any]:
    """Run the desk benchmark on a throw-away SQLite database and return the figures."""
    figures: dict[str, Any] = {"attendees": attendees}
    rng = random.Random(SEED)
    with (
        tempfile.TemporaryDirectory(prefix="tapdesk-bench-desk-") as tmp,
        scratch_database(None, "desk") as url,
    ):
        store = Store.open(url, migrate=False)
        try:
            actor = Actor(station="bench-import", staff="bench")
            load_event(store, DEMO_EVENT, actor)
            source = Path(tmp) / "attendees.csv"
            write_attendees_csv(source, attendees)
            started = time.perf_counter()
            report = import_attendees(store, source, actor=actor.next_action())
            figures["import_s"] = round(time.perf_counter() - started, 2)
            figures["import_created"] = report.created
            figures["import_rejected"] = len(report.rejected)
            store.db.checkpoint()

            attendee_t = Attendee.__table__  # type: ignore[attr-defined]
            with store.db.read() as conn:
                people = conn.execute(
                    select(
                        attendee_t.c.id, attendee_t.c.name, attendee_t.c.email, attendee_t.c.code
                    )
                ).all()

            mix = _query_mix(rng, list(people), searches)
            figures["search_mix_pct"] = {
                kind: round(100 * sum(k == kind for k, _ in mix) / len(mix))
                for kind in dict.fromkeys(k for k, _ in mix)
            }
            timings = []
            empty = 0
            for _kind, query in mix:
                found: list[int] = []
                timings.append(
                    _timed(lambda q=query, f=found: f.append(len(search_attendees(store, q))))
                )
                empty += found[0] == 0
            figures["search_p50_ms"] = round(percentile(timings, 50), 3)
            figures["search_p99_ms"] = round(percentile(timings, 99), 3)
            figures["search_found_nothing_pct"] = round(100 * empty / len(mix), 1)

            chosen = rng.sample(list(people), desk_ops)
            # Pre-event points waiting for about 40 % of the people the desk will see.
            points_file = Path(tmp) / "points.csv"
            with points_file.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["code", "reason", "points", "external_id"])
                for n, person in enumerate(chosen):
                    if n % 5 < 2:
                        writer.writerow([person.code, "questions", rng.randint(5, 60), f"x{n}"])
            import_points(store, points_file, actor.next_action())

            desk = Actor(station="bench-desk-1", staff="bench")
            check_timings = []
            for n, person in enumerate(chosen):
                if n % 100 == 0:
                    store.db.checkpoint()  # what the station's heartbeat does every few seconds
                op = desk.next_action()
                check_timings.append(_timed(lambda p=person, a=op: check_in(store, a, p.id)))
            bind_timings = []
            for n, person in enumerate(chosen):
                if n % 100 == 0:
                    store.db.checkpoint()
                op = desk.next_action()
                uid = f"05{n:012X}"
                bind_timings.append(
                    _timed(lambda p=person, a=op, u=uid: bind_band(store, a, p.id, u))
                )
            figures["checkin_p50_ms"] = round(percentile(check_timings, 50), 3)
            figures["checkin_p99_ms"] = round(percentile(check_timings, 99), 3)
            figures["bind_p50_ms"] = round(percentile(bind_timings, 50), 3)
            figures["bind_p99_ms"] = round(percentile(bind_timings, 99), 3)
            figures["violations"] = len(store.verify().violations)
        finally:
            store.close()
    return figures
