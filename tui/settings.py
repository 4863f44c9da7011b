"""Station settings: flags > ``TAPDESK_*`` environment > a TOML settings file > defaults."""

from __future__ import annotations

import hashlib
import re
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hardware import parse_reader_spec

__all__ = ["ROLES", "Role", "Settings", "SettingsError", "default_config_path", "load_settings"]

Role = Literal["desk", "bands", "hub", "counter", "coats"]
ROLES: tuple[Role, ...] = ("desk", "bands", "hub", "counter", "coats")
APP_NAME = "tapdesk"


def default_config_path() -> Path:
    """Where the settings file lives unless ``--config`` or ``TAPDESK_CONFIG`` says otherwise."""
    return platformdirs.user_config_path(APP_NAME) / "settings.toml"


class SettingsError(Exception):
    """The settings cannot be used; the message names the key and the problem."""


_config_file: Path | None = None


class Settings(BaseSettings):
    """Everything one station needs to know about itself."""

    model_config = SettingsConfigDict(env_prefix="TAPDESK_", extra="forbid", validate_default=True)

    role: Role | None = None
    """The station's role (desk, bands, hub, counter or coats); a role picker appears when unset."""

    station: str = socket.gethostname().split(".")[0][:64] or "station"
    """This laptop's name in every record, e.g. "desk-2". Defaults to the host name."""

    staff: str | None = None
    """Who acts in command-line commands (the screens sign staff in)."""

    reader: str = "wedge"
    """The NFC reader: sim, wedge, emulated[:PORT] or nfc:PATH (nfc:usb, nfc:tty:USB0:pn532...)."""

    reader_debounce_s: float = 2.0
    """Seconds the same band is ignored after it leaves the reader (edge-of-field flicker)."""

    db: str | None = None
    """Database URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME). Default: a SQLite
    file in the data directory."""

    lang: Literal["en", "ru"] = "en"
    """The language of the user interface."""

    event_file: Path | None = None
    """The event's TOML file, loaded by ``tapdesk event load`` when no file is given."""

    data_dir: Path = platformdirs.user_data_path(APP_NAME)
    """Where the default database and the demo database live."""

    log_dir: Path = platformdirs.user_log_path(APP_NAME)
    """Where the JSON log (tapdesk.log) is written."""

    @field_validator("reader")
    @classmethod
    def _reader_is_known(cls, value: str) -> str:
        parse_reader_spec(value)
        return value

    @field_validator("station")
    @classmethod
    def _station_is_short(cls, value: str) -> str:
        if not value.strip() or len(value) > 64:
            raise ValueError("a station name is 1 to 64 characters, e.g. desk-2")
        return value.strip()

    @property
    def database_url(self) -> str:
        """The database to open: ``db`` or the default SQLite file."""
        return self.db or f"sqlite:///{self.data_dir / 'tapdesk.sqlite'}"

    @property
    def demo_database_url(self) -> str:
        """The demo's own database, never the real one."""
        return f"sqlite:///{self.data_dir / 'demo.sqlite'}"

    def outbox_path(self, database_url: str) -> Path:
        """This station's outbox file for ``database_url`` (hub awards kept while it is away).

        One file per station and database: awards kept for one event are never sent to another.
        """
        digest = hashlib.sha1(database_url.encode()).hexdigest()[:10]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.station)
        return self.data_dir / "outbox" / f"{name}-{digest}.sqlite"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _config_file is not None and _config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)


def load_settings(flags: dict[str, Any], config_file: Path | None = None) -> Settings:
    """Settings from ``flags`` (highest), the environment, then ``config_file``.

    Raises :class:`SettingsError` naming the offending key and what is wrong with it.
    """
    global _config_file
    _config_file = config_file
    if config_file is not None and config_file.is_file():
        try:
            tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config_file}: not valid TOML: {exc}") from exc
    try:
        return Settings(**flags)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "?"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting"
            problems.append(f"{key}: {message}")
        where = f" (settings file {config_file})" if config_file and config_file.is_file() else ""
        raise SettingsError(f"invalid settings{where}: " + "; ".join(problems)) from exc
    finally:
        _config_file = None
