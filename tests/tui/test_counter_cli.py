"""``tapdesk drop start / list / close`` on a database with the demo event."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.context import Actor
from store.demo.pins import DEMO_EVENT_FILE
from store.eventfile import load_event
from store.service import Store
from tui.cli import main


@pytest.fixture
def event_url(sqlite_url: str) -> str:
    store = Store.open(sqlite_url, migrate=False)
    try:
        load_event(store, DEMO_EVENT_FILE, Actor(station="setup"))
    finally:
        store.close()
    return sqlite_url


def test_drop_start_list_close(
    event_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TAPDESK_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("TAPDESK_CONFIG", str(tmp_path / "none.toml"))
    assert main(["--db", event_url, "drop", "list"]) == 0
    assert "No drops yet" in capsys.readouterr().out
    code = main(
        [
            "--db",
            event_url,
            "drop",
            "start",
            "headphones",
            "--qty",
            "20",
            "--minutes",
            "10",
            "--price",
            "700",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Drop started: #1 Headphones: 0 of 20 sold, 700 points, 20 left (0 on hold)" in out
    assert main(["--db", event_url, "drop", "list"]) == 0
    assert "#1 Headphones: 0 of 20 sold" in capsys.readouterr().out
    assert main(["--db", event_url, "drop", "close", "1"]) == 0
    assert "closed early" in capsys.readouterr().out
    assert main(["--db", event_url, "drop", "close", "1"]) == 1
    assert "already over" in capsys.readouterr().err
    assert (
        main(["--db", event_url, "drop", "start", "nothing", "--qty", "2", "--minutes", "1"]) == 1
    )
    assert "There is no prize 'nothing'" in capsys.readouterr().err
    assert main(["--db", event_url, "verify"]) == 0
