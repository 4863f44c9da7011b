"""The block font for wristband colours and the BigText widget."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color
from textual.containers import Container

from tui.bigtext import (
    FONT,
    GLYPH_HEIGHT,
    UNKNOWN_GLYPH,
    BigText,
    big_width,
    fit_big,
    render_big,
)

LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
RUSSIAN = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
KAZAKH = "ӘҒҚҢӨҰҮҺІ"
DIGITS = "0123456789"
PUNCTUATION = " -.#!?"

COLOUR_NAMES = {
    "en": "RED ORANGE YELLOW GREEN BLUE CYAN PURPLE VIOLET PINK BLACK WHITE GREY GRAY BROWN",
    "ru": (
        "КРАСНЫЙ ОРАНЖЕВЫЙ ЖЁЛТЫЙ ЗЕЛЁНЫЙ ГОЛУБОЙ СИНИЙ ФИОЛЕТОВЫЙ РОЗОВЫЙ ЧЁРНЫЙ БЕЛЫЙ "
        "СЕРЫЙ КОРИЧНЕВЫЙ БИРЮЗОВЫЙ САЛАТОВЫЙ ЦВЕТ ЩЁЛК ЪЭ"
    ),
    "kk": "ҚЫЗЫЛ ҚЫЗҒЫЛТ САРЫ ЖАСЫЛ КӨК КӨГІЛДІР КҮЛГІН ҚАРА АҚ СҰР ҚОҢЫР ҺӘМ ҰЯ",
}

# Letters print draws identically; they may (and do) share a glyph. No other two may.
SAME_SHAPE = [
    {"A", "А"},
    {"B", "В"},
    {"C", "С"},
    {"E", "Е"},
    {"H", "Н"},
    {"I", "І"},
    {"K", "К"},
    {"M", "М"},
    {"O", "О"},
    {"P", "Р"},
    {"T", "Т"},
    {"X", "Х"},
    {"Y", "Ү"},
]

LOOK_ALIKES = [
    "БВ8",
    "ШЩ",
    "ИЙ",
    "ЕЁ",
    "ЬЪЫ",
    "ЗЭ3",
    "О0Ө",
    "УЧҮҰ",
    "FҒ",
    "KҚ",
    "HҢ",
    "ЬҺБ",
    "ИN",
    "ЦЩ",
]


def test_every_glyph_has_five_rows_of_equal_width_in_ink_and_paper() -> None:
    for char, rows in {**FONT, "unknown": UNKNOWN_GLYPH}.items():
        assert len(rows) == GLYPH_HEIGHT == 5, char
        widths = {len(row) for row in rows}
        assert len(widths) == 1, f"{char!r} has rows of widths {widths}"
        assert 3 <= widths.pop() <= 5, char
        assert set("".join(rows)) <= {"█", " "}, char


def test_the_font_covers_latin_cyrillic_kazakh_digits_and_punctuation() -> None:
    missing = [c for c in LATIN + RUSSIAN + KAZAKH + DIGITS + PUNCTUATION if c not in FONT]
    assert missing == []
    assert len(RUSSIAN) == 33


@pytest.mark.parametrize("wide", "ЖШЩЫЮМW")
def test_wide_letters_get_five_columns(wide: str) -> None:
    assert len(FONT[wide][0]) == 5


@pytest.mark.parametrize("lang", sorted(COLOUR_NAMES))
def test_every_letter_of_the_colour_names_is_in_the_font(lang: str) -> None:
    names = COLOUR_NAMES[lang]
    assert [c for c in names if c not in FONT] == []
    assert render_big(names.lower()) == render_big(names)


@pytest.mark.parametrize("group", LOOK_ALIKES)
def test_look_alike_characters_get_distinct_glyphs(group: str) -> None:
    glyphs = {FONT[c] for c in group}
    assert len(glyphs) == len(group)


def test_only_letters_print_draws_alike_share_a_glyph() -> None:
    by_shape: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for char, rows in FONT.items():
        by_shape[rows].add(char)
    shared = [chars for chars in by_shape.values() if len(chars) > 1]
    assert sorted(shared, key=sorted) == sorted(SAME_SHAPE, key=sorted)
    assert UNKNOWN_GLYPH not in by_shape


def test_yo_keeps_its_dots_on_top_and_e_has_none() -> None:
    assert FONT["Ё"][0].strip() == "█ █"
    assert FONT["Е"][0] == "████"


def test_render_big_draws_five_lines_of_ink_and_paper() -> None:
    lines = render_big("СИНИЙ")
    assert len(lines) == 5
    assert set("".join(lines)) <= {"█", " "}
    assert {len(line) for line in lines} == {big_width("СИНИЙ")}
    # Glyphs are joined by one blank column by default.
    assert lines[0] == " ".join(FONT[c][0] for c in "СИНИЙ")


def test_lower_case_and_decomposed_letters_render_as_capitals() -> None:
    assert render_big("зелёный") == render_big("ЗЕЛЁНЫЙ")
    assert render_big("Blue") == render_big("BLUE")
    assert render_big("кӨк") == render_big("КӨК")
    assert render_big("е\u0308ж") == render_big("ЁЖ")  # e + combining diaeresis
    assert render_big("и\u0306") == render_big("Й")  # i + combining breve


@pytest.mark.parametrize("text", ["😀", "\x00", "€", "ü", "\u0306", "漢字"])
def test_unknown_characters_render_as_a_small_box(text: str) -> None:
    lines = render_big(text)
    assert all(line.startswith(box) for line, box in zip(lines, UNKNOWN_GLYPH, strict=True))


def test_spacing() -> None:
    assert big_width("BLUE") == 4 * 4 + 3
    assert big_width("BLUE", spacing=0) == 4 * 4
    assert render_big("BLUE", spacing=0)[0] == "".join(FONT[c][0] for c in "BLUE")
    assert render_big("") == [""] * 5
    assert big_width("") == 0
    with pytest.raises(ValueError):
        render_big("BLUE", spacing=-1)


@given(st.text(max_size=40))
def test_any_text_renders_without_raising(text: str) -> None:
    lines = render_big(text)
    assert len(lines) == 5
    assert {len(line) for line in lines} == {big_width(text)}
    assert set("".join(lines)) <= {"█", " "}


def test_fit_big_squeezes_then_stacks_then_gives_up() -> None:
    name = "ЗЕЛЁНЫЙ"
    assert fit_big(name, 120) == render_big(name)
    assert fit_big(name, big_width(name) - 1) == render_big(name, spacing=0)
    assert fit_big(name, big_width(name, spacing=0) - 1) is None  # one word: never cut

    two = "СИНИЙ ЗЕЛЁНЫЙ"
    stacked = fit_big(two, 40)
    assert stacked == [*render_big("СИНИЙ"), "", *render_big("ЗЕЛЁНЫЙ")]
    assert len(stacked) == 11
    assert fit_big("ФИОЛЕТОВЫЙ ЗЕЛЁНЫЙ ЖАСЫЛ", 50) is None  # more than two rows


class BigTextApp(App[None]):
    CSS = """
    Screen { background: #102030; }
    #wide { width: 120; height: auto; }
    #narrow { width: 20; height: auto; }
    #middle { width: 40; height: auto; }
    BigText { color: #ff0000; }
    """

    def compose(self) -> ComposeResult:
        with Container(id="wide"):
            yield BigText("ЗЕЛЁНЫЙ", id="big")
        with Container(id="narrow"):
            yield BigText("ЗЕЛЁНЫЙ", id="plain")
        with Container(id="middle"):
            yield BigText("СИНИЙ ЗЕЛЁНЫЙ", id="stacked")


async def test_the_widget_draws_big_and_falls_back_when_narrow() -> None:
    app = BigTextApp()
    async with app.run_test(size=(120, 40)) as pilot:
        big = app.query_one("#big", BigText)
        assert big.size.height == 5
        assert big.size.width == big_width("ЗЕЛЁНЫЙ")
        rendered = big.render()
        assert isinstance(rendered, Text)
        assert rendered.plain.split("\n") == render_big("ЗЕЛЁНЫЙ")
        # Drawn in the widget's colour, on the background behind it.
        assert big.styles.background.a == 0
        ink = [
            seg for strip in big.render_lines(big.size.region) for seg in strip if "█" in seg.text
        ]
        assert ink
        for seg in ink:
            assert seg.style is not None
            assert seg.style.color is not None
            assert Color.from_rich_color(seg.style.color) == Color(255, 0, 0)
            assert seg.style.bgcolor is not None
            assert Color.from_rich_color(seg.style.bgcolor) == Color(0x10, 0x20, 0x30)

        # Too wide even squeezed, and one word cannot be split: plain bold text.
        plain = app.query_one("#plain", BigText)
        assert plain.size.width <= 20
        assert plain.size.height == 1
        fallback = plain.render()
        assert isinstance(fallback, Text)
        assert fallback.plain == "ЗЕЛЁНЫЙ"
        assert "bold" in str(fallback.style)

        # Two words: stacked on two rows of five with a blank line between them.
        stacked = app.query_one("#stacked", BigText)
        assert stacked.size.height == 11
        assert stacked.size.width <= 40

        # A short name fits big even in the narrow container; the size follows the text.
        plain.text = "BLUE"
        await pilot.pause()
        assert (plain.size.width, plain.size.height) == (big_width("BLUE"), 5)
        big.text = "КӨК"
        await pilot.pause()
        assert big.size.width == big_width("КӨК")
        assert str(big.render()).split("\n") == render_big("КӨК")
