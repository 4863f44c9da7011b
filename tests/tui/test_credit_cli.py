"""`tapdesk credit report` and `tapdesk credit close` on a database with plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store import credit
from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.eventfile import load_event
from store.points import award
from store.service import Store
from tests.factories import add_attendee
from tui.cli import main

UID = "04A1B2C3D4E580"


@pytest.fixture
def url_with_a_plan(sqlite_url: str) -> str:
    store = Store.open(sqlite_url, migrate=False)
    try:
        load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
        attendee = add_attendee(store, "Anna Smith", band_uid=UID)
        award(store, Actor(station="hub-1"), UID, 1000, "bonus")
        credit.redeem_in_four(store, Actor(station="counter-1"), attendee, "headphones")
    finally:
        store.close()
    return sqlite_url


def test_report_then_close(
    url_with_a_plan: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--db", url_with_a_plan, "credit", "report"]) == 0
    out = capsys.readouterr().out
    assert "Anna Smith" in out and "Headphones" in out and "owes 675" in out
    assert main(["--db", url_with_a_plan, "credit", "report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["owed"] == 675 and data["lines"][0]["paid"] == 225
    assert main(["--db", url_with_a_plan, "credit", "close", "--collect"]) == 0
    assert "675 points collected, 0 points written off" in capsys.readouterr().out
    assert main(["--db", url_with_a_plan, "credit", "report"]) == 0
    assert "No open pay-in-four plan." in capsys.readouterr().out
    assert main(["--db", url_with_a_plan, "verify"]) == 0


def test_close_needs_a_mode(url_with_a_plan: str) -> None:
    with pytest.raises(SystemExit):
        main(["--db", url_with_a_plan, "credit", "close"])
