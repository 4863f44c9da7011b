"""Huge letters for a wristband colour's name: a 5-row block font and a widget that draws it.

Textual's ``Digits`` draws only digits and a few symbols; the registration desk needs a colour's
*name* ("BLUE", "СИНИЙ", "ЖАСЫЛ") readable from a metre away. The font covers A–Z, А–Я with Ё,
the Kazakh letters Ә Ғ Қ Ң Ө Ұ Ү Һ І, the digits and a little punctuation. Every glyph is five
strings of equal width (3–5 columns) drawn with "█" for ink and " " for paper; letters that look
the same in print (Latin A and Cyrillic А, Latin Y and Kazakh Ү, ...) share one glyph.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from rich.cells import cell_len
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

__all__ = [
    "FONT",
    "GLYPH_HEIGHT",
    "MAX_STACKED_ROWS",
    "UNKNOWN_GLYPH",
    "BigText",
    "big_width",
    "fit_big",
    "glyph",
    "normalize",
    "render_big",
]

Glyph = tuple[str, str, str, str, str]

GLYPH_HEIGHT: Final = 5
"""Rows in every glyph."""

MAX_STACKED_ROWS: Final = 2
"""At most this many rows of huge words when a name is stacked to fit a narrow widget."""

UNKNOWN_GLYPH: Final[Glyph] = (
    "   ",
    "███",
    "█ █",
    "███",
    "   ",
)
"""A small box, drawn for any character the font lacks."""

# Glyphs drawn once. Cyrillic letters that look exactly like a Latin one are added below, from
# _SAME_SHAPE, so that the two scripts cannot drift apart.
_GLYPHS: dict[str, Glyph] = {
    # Latin ------------------------------------------------------------------------------------
    "A": (
        " ██ ",
        "█  █",
        "████",
        "█  █",
        "█  █",
    ),
    "B": (
        "███ ",
        "█  █",
        "███ ",
        "█  █",
        "███ ",
    ),
    "C": (
        " ███",
        "█   ",
        "█   ",
        "█   ",
        " ███",
    ),
    "D": (
        "███ ",
        "█  █",
        "█  █",
        "█  █",
        "███ ",
    ),
    "E": (
        "████",
        "█   ",
        "███ ",
        "█   ",
        "████",
    ),
    "F": (
        "████",
        "█   ",
        "███ ",
        "█   ",
        "█   ",
    ),
    "G": (
        " ███",
        "█   ",
        "█ ██",
        "█  █",
        " ███",
    ),
    "H": (
        "█  █",
        "█  █",
        "████",
        "█  █",
        "█  █",
    ),
    "I": (
        "███",
        " █ ",
        " █ ",
        " █ ",
        "███",
    ),
    "J": (
        "   █",
        "   █",
        "   █",
        "█  █",
        " ██ ",
    ),
    "K": (
        "█  █",
        "█ █ ",
        "██  ",
        "█ █ ",
        "█  █",
    ),
    "L": (
        "█   ",
        "█   ",
        "█   ",
        "█   ",
        "████",
    ),
    "M": (
        "█   █",
        "██ ██",
        "█ █ █",
        "█   █",
        "█   █",
    ),
    "N": (
        "█  █",
        "██ █",
        "█ ██",
        "█  █",
        "█  █",
    ),
    "O": (
        " ██ ",
        "█  █",
        "█  █",
        "█  █",
        " ██ ",
    ),
    "P": (
        "███ ",
        "█  █",
        "███ ",
        "█   ",
        "█   ",
    ),
    "Q": (
        " ██ ",
        "█  █",
        "█  █",
        "█ █ ",
        " █ █",
    ),
    "R": (
        "███ ",
        "█  █",
        "███ ",
        "█ █ ",
        "█  █",
    ),
    "S": (
        " ███",
        "█   ",
        " ██ ",
        "   █",
        "███ ",
    ),
    "T": (
        "█████",
        "  █  ",
        "  █  ",
        "  █  ",
        "  █  ",
    ),
    "U": (
        "█  █",
        "█  █",
        "█  █",
        "█  █",
        " ██ ",
    ),
    "V": (
        "█   █",
        "█   █",
        " █ █ ",
        " █ █ ",
        "  █  ",
    ),
    "W": (
        "█   █",
        "█   █",
        "█ █ █",
        "██ ██",
        "█   █",
    ),
    "X": (
        "█   █",
        " █ █ ",
        "  █  ",
        " █ █ ",
        "█   █",
    ),
    "Y": (
        "█   █",
        " █ █ ",
        "  █  ",
        "  █  ",
        "  █  ",
    ),
    "Z": (
        "████",
        "   █",
        "  █ ",
        " █  ",
        "████",
    ),
    # Cyrillic: only the letters whose shape no Latin letter has --------------------------------
    "Б": (
        "████",
        "█   ",
        "███ ",
        "█  █",
        "███ ",
    ),
    "Г": (
        "████",
        "█   ",
        "█   ",
        "█   ",
        "█   ",
    ),
    "Д": (
        " ███ ",
        " █ █ ",
        " █ █ ",
        "█████",
        "█   █",
    ),
    # No room for a gap under the diaeresis: the dots stand on a four-row, five-column E.
    "Ё": (
        " █ █ ",
        "█████",
        "█    ",
        "███  ",
        "█████",
    ),
    "Ж": (
        "█ █ █",
        " ███ ",
        "  █  ",
        " ███ ",
        "█ █ █",
    ),
    "З": (
        "███ ",
        "   █",
        " ██ ",
        "   █",
        "███ ",
    ),
    "И": (
        "█   █",
        "█  ██",
        "█ █ █",
        "██  █",
        "█   █",
    ),
    # The breve is a single dot clear of both stems, above a four-row И.
    "Й": (
        "  █  ",
        "█   █",
        "█  ██",
        "█ █ █",
        "██  █",
    ),
    "Л": (
        " ███",
        " █ █",
        " █ █",
        " █ █",
        "██ █",
    ),
    "П": (
        "████",
        "█  █",
        "█  █",
        "█  █",
        "█  █",
    ),
    "У": (
        "█  █",
        "█  █",
        " ███",
        "   █",
        "███ ",
    ),
    "Ф": (
        " ███ ",
        "█ █ █",
        "█ █ █",
        " ███ ",
        "  █  ",
    ),
    "Ц": (
        "█  █ ",
        "█  █ ",
        "█  █ ",
        "█████",
        "    █",
    ),
    "Ч": (
        "█  █",
        "█  █",
        " ███",
        "   █",
        "   █",
    ),
    "Ш": (
        "█ █ █",
        "█ █ █",
        "█ █ █",
        "█ █ █",
        "█████",
    ),
    "Щ": (
        "█ █ █",
        "█ █ █",
        "█ █ █",
        "█████",
        "    █",
    ),
    "Ъ": (
        "██   ",
        " █   ",
        " ███ ",
        " █  █",
        " ███ ",
    ),
    "Ы": (
        "█   █",
        "█   █",
        "███ █",
        "█  ██",
        "███ █",
    ),
    "Ь": (
        "█   ",
        "█   ",
        "███ ",
        "█  █",
        "███ ",
    ),
    "Э": (
        "███ ",
        "   █",
        " ███",
        "   █",
        "███ ",
    ),
    "Ю": (
        "█ ███",
        "█ █ █",
        "███ █",
        "█ █ █",
        "█ ███",
    ),
    "Я": (
        " ███",
        "█  █",
        " ███",
        " █ █",
        "█  █",
    ),
    # Kazakh -----------------------------------------------------------------------------------
    "Ә": (
        " ██ ",
        "   █",
        "████",
        "█  █",
        " ██ ",
    ),
    # The bar crosses the stem, so Ғ never reads as a Latin F.
    "Ғ": (
        " ███",
        " █  ",
        "███ ",
        " █  ",
        " █  ",
    ),
    "Қ": (
        "█  █ ",
        "█ █  ",
        "██   ",
        "█ █  ",
        "█  ██",
    ),
    "Ң": (
        "█  █ ",
        "█  █ ",
        "████ ",
        "█  █ ",
        "█  ██",
    ),
    "Ө": (
        " ██ ",
        "█  █",
        "████",
        "█  █",
        " ██ ",
    ),
    "Ұ": (
        "█   █",
        " █ █ ",
        "  █  ",
        " ███ ",
        "  █  ",
    ),
    "Һ": (
        "█   ",
        "█   ",
        "███ ",
        "█  █",
        "█  █",
    ),
    # Digits: three columns wide, square, so that 0 ≠ O, 8 ≠ B ≠ Б and 3 ≠ З ≠ Э ------------------
    "0": (
        "███",
        "█ █",
        "█ █",
        "█ █",
        "███",
    ),
    "1": (
        " █ ",
        "██ ",
        " █ ",
        " █ ",
        "███",
    ),
    "2": (
        "███",
        "  █",
        "███",
        "█  ",
        "███",
    ),
    "3": (
        "███",
        "  █",
        " ██",
        "  █",
        "███",
    ),
    "4": (
        "█ █",
        "█ █",
        "███",
        "  █",
        "  █",
    ),
    "5": (
        "███",
        "█  ",
        "███",
        "  █",
        "███",
    ),
    "6": (
        "███",
        "█  ",
        "███",
        "█ █",
        "███",
    ),
    "7": (
        "███",
        "  █",
        " █ ",
        " █ ",
        " █ ",
    ),
    "8": (
        "███",
        "█ █",
        "███",
        "█ █",
        "███",
    ),
    "9": (
        "███",
        "█ █",
        "███",
        "  █",
        "███",
    ),
    # Punctuation ------------------------------------------------------------------------------
    " ": (
        "   ",
        "   ",
        "   ",
        "   ",
        "   ",
    ),
    "-": (
        "   ",
        "   ",
        "███",
        "   ",
        "   ",
    ),
    "+": (
        "   ",
        " █ ",
        "███",
        " █ ",
        "   ",
    ),
    ".": (
        "   ",
        "   ",
        "   ",
        "   ",
        " █ ",
    ),
    "#": (
        " █ █ ",
        "█████",
        " █ █ ",
        "█████",
        " █ █ ",
    ),
    "!": (
        " █ ",
        " █ ",
        " █ ",
        "   ",
        " █ ",
    ),
    "?": (
        "███",
        "  █",
        " ██",
        "   ",
        " █ ",
    ),
}

# Letters drawn with another letter's glyph because print draws them the same.
_SAME_SHAPE: Final[Mapping[str, str]] = {
    "А": "A",
    "В": "B",
    "Е": "E",
    "К": "K",
    "М": "M",
    "Н": "H",
    "О": "O",
    "Р": "P",
    "С": "C",
    "Т": "T",
    "Х": "X",
    "Ү": "Y",  # Kazakh straight U
    "І": "I",  # Kazakh dotted I (upper case has no dot)
}

FONT: Final[Mapping[str, Glyph]] = MappingProxyType(
    _GLYPHS | {letter: _GLYPHS[shape] for letter, shape in _SAME_SHAPE.items()}
)
"""Every character the font draws (upper case only), mapped to its five rows."""


def normalize(text: str) -> str:
    """Bring text to the form the font is keyed by.

    Composes combining marks (so "Е" followed by U+0308 becomes "Ё"), folds case and upper-cases
    ("ё" becomes "Ё", "ß" becomes "SS") and turns every whitespace character into a space.

    Args:
        text: Any text.

    Returns:
        The normalised text.
    """
    folded = unicodedata.normalize("NFC", text).casefold().upper()
    # Upper-casing can decompose again (e.g. "ǰ"), so compose once more.
    folded = unicodedata.normalize("NFC", folded)
    return "".join(" " if char.isspace() else char for char in folded)


def glyph(char: str) -> Glyph:
    """The glyph for one already-normalised character.

    Args:
        char: A single character, as produced by :func:`normalize`.

    Returns:
        Its five rows, or :data:`UNKNOWN_GLYPH` when the font lacks it.
    """
    return FONT.get(char, UNKNOWN_GLYPH)


def render_big(text: str, *, spacing: int = 1) -> list[str]:
    """Draw text in the block font.

    Args:
        text: Any text; lower case is drawn upper case, unknown characters as a small box.
        spacing: Blank columns between neighbouring glyphs.

    Returns:
        Five strings of equal width holding only "█" and " " (empty strings for empty text).

    Raises:
        ValueError: If ``spacing`` is negative.
    """
    if spacing < 0:
        raise ValueError(f"spacing must not be negative, got {spacing}")
    glyphs = [glyph(char) for char in normalize(text)]
    gap = " " * spacing
    return [gap.join(g[row] for g in glyphs) for row in range(GLYPH_HEIGHT)]


def big_width(text: str, *, spacing: int = 1) -> int:
    """The number of columns :func:`render_big` draws ``text`` in.

    Args:
        text: Any text.
        spacing: Blank columns between neighbouring glyphs.

    Returns:
        The width in terminal columns.

    Raises:
        ValueError: If ``spacing`` is negative.
    """
    if spacing < 0:
        raise ValueError(f"spacing must not be negative, got {spacing}")
    glyphs = [glyph(char) for char in normalize(text)]
    if not glyphs:
        return 0
    return sum(len(g[0]) for g in glyphs) + spacing * (len(glyphs) - 1)


def _stack_words(words: list[str], width: int, spacing: int) -> list[str] | None:
    """Pack whole words greedily into rows no wider than ``width``.

    Args:
        words: The words, in order.
        width: Columns available.
        spacing: Blank columns between neighbouring glyphs.

    Returns:
        The rows' texts, or None when a word alone is too wide or more than
        :data:`MAX_STACKED_ROWS` rows would be needed.
    """
    rows: list[str] = []
    for word in words:
        if big_width(word, spacing=spacing) > width:
            return None
        if rows and big_width(f"{rows[-1]} {word}", spacing=spacing) <= width:
            rows[-1] = f"{rows[-1]} {word}"
        else:
            rows.append(word)
    return rows if len(rows) <= MAX_STACKED_ROWS else None


def fit_big(text: str, width: int) -> list[str] | None:
    """Draw text in the block font so that it fits ``width`` columns, never cutting a glyph.

    Tries, in order: one row with a blank column between glyphs; one row with glyphs touching;
    whole words stacked on up to :data:`MAX_STACKED_ROWS` rows (a blank line between rows),
    spaced and then touching.

    Args:
        text: Any text.
        width: Columns available.

    Returns:
        The lines to show (5, or 11 for two stacked rows), or None when the text cannot be drawn
        big in that width.
    """
    for spacing in (1, 0):
        if big_width(text, spacing=spacing) <= width:
            return render_big(text, spacing=spacing)
    words = normalize(text).split()
    if len(words) < 2:
        return None
    for spacing in (1, 0):
        rows = _stack_words(words, width, spacing)
        if rows is None:
            continue
        lines: list[str] = []
        for row in rows:
            if lines:
                lines.append("")
            lines.extend(render_big(row, spacing=spacing))
        return lines
    return None


class BigText(Widget):
    """A colour's name (or any short text) in letters five rows tall.

    When the text is too wide for the space it has, the widget first squeezes the glyphs
    together, then stacks whole words on two rows (11 rows tall) and, when even that cannot fit,
    shows the plain text in bold. It draws in its own ``color`` on whatever is behind it.

    The default height is ``auto`` so that those fallbacks can change it; with the text drawn
    big on one row it is exactly five rows tall.
    """

    DEFAULT_CSS = """
    BigText {
        height: auto;
        width: auto;
    }
    """

    text: reactive[str] = reactive("", layout=True)
    """The text to show."""

    def __init__(
        self,
        text: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Create the widget.

        Args:
            text: The text to show.
            name: The widget's name.
            id: The widget's ID in the DOM.
            classes: Space-separated CSS classes.
            disabled: Whether the widget starts disabled.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.set_reactive(BigText.text, text)

    def _lines(self, width: int) -> list[str] | None:
        """The block-font lines for ``width`` columns, or None to fall back to plain text."""
        return fit_big(self.text, width)

    def _plain(self) -> Text:
        """The plain-text fallback."""
        return Text(self.text, style="bold", end="")

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """The width the text needs, given at most the container's width.

        Args:
            container: Size of the container.
            viewport: Size of the viewport.

        Returns:
            The content width in columns.
        """
        lines = self._lines(container.width)
        if lines is None:
            return min(cell_len(self.text), container.width)
        return max((len(line) for line in lines), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """The height the text needs at ``width`` columns.

        Args:
            container: Size of the container.
            viewport: Size of the viewport.
            width: The content width.

        Returns:
            5 for one row of big letters, 11 for two stacked rows, or the plain text's height.
        """
        lines = self._lines(width)
        if lines is not None:
            return len(lines)
        if width <= 0:
            return 0
        return len(self._plain().wrap(self.app.console, width))

    def render(self) -> RenderResult:
        """Draw the big letters, or the plain text when they cannot fit.

        Returns:
            A ``rich.text.Text`` without colours of its own: it takes the widget's colour and
            shows the background behind it.
        """
        lines = self._lines(self.size.width)
        if lines is None:
            return self._plain()
        return Text("\n".join(lines), no_wrap=True, overflow="crop", end="")
