"""Structured logging: one JSON object per line, each carrying its correlation id."""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.context import current_correlation_id

__all__ = ["JsonFormatter", "setup_logging"]

#: Attributes every LogRecord has; anything else was passed in ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON."""

    def __init__(self, station: str = "") -> None:
        super().__init__()
        self.station = station

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "station": self.station,
        }
        correlation_id = getattr(record, "correlation_id", None) or current_correlation_id()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(log_dir: Path, station: str, level: int = logging.INFO) -> Path:
    """Send the ``tapdesk`` loggers to ``log_dir/tapdesk.log`` as JSON lines. Returns the path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "tapdesk.log"
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=20_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(JsonFormatter(station))
    logger = logging.getLogger("tapdesk")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return path
