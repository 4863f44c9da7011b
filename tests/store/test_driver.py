"""The prebuilt statements of the one-statement paths (store/driver.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from store import coats, counter, desk, hub, points, wristbands

_STATEMENTS = {
    "check-in": desk._CHECK_IN_CTE,
    "bind": desk._BIND_CTE,
    "activity award": hub._FAST["activity"],
    "quiz award": hub._FAST["quiz"],
    "cool award": hub._COOL_CTE,
    "award": points._AWARD_CTE,
    "band lookup": wristbands._INSPECT_ALL,
    "redemption": counter._REDEEM_TAKE,
    "redemption, second half": counter._REDEEM_RECORD,
    "drop hold": counter._HOLD_LOCK,
    "drop hold, second half": counter._HOLD_PLACE,
    "drop confirm": counter._CONFIRM_TAKE,
    "drop confirm, second half": counter._CONFIRM_RECORD,
    "coat in": coats._TAP_CTE,
    "coat out": coats._OUT_CTE,
}


@pytest.mark.parametrize("name", sorted(_STATEMENTS))
def test_each_statement_is_short_enough_for_psycopg_to_parse_once(name: str) -> None:
    """psycopg caches its conversion of a statement of at most 4096 characters; a longer one
    is converted again on every call (about 0.1 ms of a station's CPU)."""
    sql = str(_STATEMENTS[name].compile(dialect=psycopg_dialect.dialect()))
    assert len(sql) <= 4096, len(sql)
