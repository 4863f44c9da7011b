"""Translation of user-facing text.

Every string a staff member reads goes through :func:`_` (or :func:`ngettext`). The
catalogues are Babel/gettext catalogues shipped inside this package (``store/locale``), so the
store's own domain errors, the CLI and the screens share one catalogue and one language switch.

The language is chosen once at start-up by :func:`set_language` (``tui/cli.py`` calls it before it
imports any screen, because Textual builds key-binding labels when a class is defined).
"""

from __future__ import annotations

import gettext as _gettext
from pathlib import Path

__all__ = ["LANGUAGES", "N_", "_", "current_language", "ngettext", "set_language"]

#: The languages whose catalogues are complete.
LANGUAGES = ("en", "ru")

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "tapdesk"

_translations: _gettext.NullTranslations = _gettext.NullTranslations()
_language = "en"


def set_language(language: str) -> None:
    """Switch every later translation to ``language`` ("en" or "ru")."""
    global _translations, _language
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
    _language = language
    if language == "en":
        _translations = _gettext.NullTranslations()
    else:
        _translations = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])


def current_language() -> str:
    """The language chosen by :func:`set_language` ("en" until then)."""
    return _language


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message that depends on a count."""
    return _translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet (translated when shown)."""
    return message
