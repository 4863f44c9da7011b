"""The command line: one grammar, settings precedence, plain errors, the second language."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import GLOBAL_FLAGS, build_parser, main
from tui.settings import SettingsError, load_settings


def parse(*argv: str) -> dict[str, object]:
    args = build_parser().parse_args(list(argv))
    return {name: getattr(args, name) for name in GLOBAL_FLAGS if hasattr(args, name)}


def test_global_flags_work_before_or_after_the_command() -> None:
    before = parse("--station", "desk-2", "--role", "desk", "verify")
    after = parse("verify", "--station", "desk-2", "--role", "desk")
    assert before == after == {"station": "desk-2", "role": "desk"}
    mixed = parse("--station", "desk-2", "demo", "--reader", "sim", "--reset")
    assert mixed == {"station": "desk-2", "reader": "sim"}
    nested = parse("db", "upgrade", "--db", "sqlite:///x.db")
    assert nested == {"db": "sqlite:///x.db"}


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('station = "from-file"\nrole = "hub"\nreader = "sim"\n', encoding="utf-8")
    assert load_settings({}, config).station == "from-file"
    monkeypatch.setenv("TAPDESK_STATION", "from-env")
    settings = load_settings({}, config)
    assert (settings.station, settings.role, settings.reader) == ("from-env", "hub", "sim")
    assert load_settings({"station": "from-flag"}, config).station == "from-flag"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path})
    assert settings.database_url == f"sqlite:///{tmp_path / 'tapdesk.sqlite'}"
    assert settings.demo_database_url != settings.database_url


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('statoin = "x"\n', "statoin: unknown setting"),
        ('role = "kitchen"\n', "role: Input should be"),
        ('reader = "usb"\n', "reader: 'usb' is not a reader"),
        ("station = [1, 2]\n", "station: Input should be a valid string"),
        ("station = \n", "not valid TOML"),
    ],
)
def test_bad_settings_file_names_the_key_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, config)
    assert message in str(caught.value)
    assert str(config) in str(caught.value)


def run_cli(
    *argv: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "TAPDESK_DATA_DIR": str(tmp_path / "data"),
        "TAPDESK_LOG_DIR": str(tmp_path / "logs"),
        "TAPDESK_CONFIG": str(tmp_path / "none.toml"),
        **(env or {}),
    }
    full_env.pop("TAPDESK_LANG", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = run_cli(
        "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x", "verify", tmp_path=tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Cannot reach the database" in result.stderr


def test_wrong_database_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli("verify", "--db", "nonsense", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "not valid" in result.stderr


def test_bad_settings_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('colour = "red"\n', encoding="utf-8")
    result = run_cli("--config", str(config), "verify", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "colour: unknown setting" in result.stderr


def test_verify_and_db_upgrade_on_a_new_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    upgraded = run_cli("db", "upgrade", "--db", url, tmp_path=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Schema upgraded" in upgraded.stdout
    again = run_cli("--db", url, "db", "upgrade", tmp_path=tmp_path)
    assert "already up to date" in again.stdout
    verified = run_cli("verify", "--db", url, tmp_path=tmp_path)
    assert verified.returncode == 0 and verified.stdout.startswith("OK")


def test_second_language_runs_in_a_subprocess(tmp_path: Path) -> None:
    """Binding labels are built when classes are defined: Russian must be installed first."""
    code = (
        "import sys; from tui.cli import _early_language; from store.i18n import set_language;"
        "lang, _ = _early_language(sys.argv[1:]); set_language(lang);"
        "from tui.app import TapdeskApp; from screens.role_picker import RolePickerScreen;"
        "print([b.description for b in TapdeskApp.BINDINGS]);"
        "from tui.widgets import role_title; print(role_title('desk'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--lang", "ru"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TAPDESK_LANG": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "Выход" in result.stdout
    assert "Регистрация" in result.stdout
    help_text = run_cli("--lang", "ru", "--help", tmp_path=tmp_path).stdout
    assert "демо" in help_text.lower()


def test_main_returns_exit_codes_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPDESK_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("TAPDESK_CONFIG", str(tmp_path / "none.toml"))
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    assert main(["--db", url, "verify"]) == 0
    assert main(["--db", url, "--reader", "bogus", "run"]) == 2  # a bad reader: one line
