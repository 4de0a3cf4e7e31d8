"""Emoji in drawn text: where they are, and what stands in for them.

Discord draws emoji as colour pictures (Twemoji). No colour emoji font ships with this machine's
system fonts, and a picture of a message does not warrant one; instead the emoji the bot uses get
a look-alike symbol that DejaVu Sans has, in the emoji's main colour (on a tile for the emoji
that are tiles). Other emoji are drawn with the text font when it has them and left out when it
does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.pictures.theme import RGB

VARIATION_SELECTOR = "\ufe0f"
ZWJ = "\u200d"
SKIN_TONES = range(0x1F3FB, 0x1F400)

# Characters Unicode presents as emoji by default (Emoji_Presentation), by range.
_PRESENTATION = (
    (0x1F000, 0x1FAFF),
    (0x231A, 0x231B),
    (0x23E9, 0x23EC),
    (0x23F0, 0x23F0),
    (0x23F3, 0x23F3),
    (0x25FD, 0x25FE),
    (0x2614, 0x2615),
    (0x2648, 0x2653),
    (0x267F, 0x267F),
    (0x2693, 0x2693),
    (0x26A1, 0x26A1),
    (0x26AA, 0x26AB),
    (0x26BD, 0x26BE),
    (0x26C4, 0x26C5),
    (0x26CE, 0x26CE),
    (0x26D4, 0x26D4),
    (0x26EA, 0x26EA),
    (0x26F2, 0x26F3),
    (0x26F5, 0x26F5),
    (0x26FA, 0x26FA),
    (0x26FD, 0x26FD),
    (0x2705, 0x2705),
    (0x270A, 0x270B),
    (0x2728, 0x2728),
    (0x274C, 0x274C),
    (0x274E, 0x274E),
    (0x2753, 0x2755),
    (0x2757, 0x2757),
    (0x2795, 0x2797),
    (0x27B0, 0x27B0),
    (0x27BF, 0x27BF),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
)


@dataclass(frozen=True)
class LookAlike:
    symbol: str
    colour: RGB
    tile: RGB | None = None  # drawn on a rounded square of this colour


_BLUE_TILE = (0x3B, 0x88, 0xC3)
_RED = (0xDD, 0x2E, 0x44)
_GOLD = (0xFF, 0xAC, 0x33)
_NOTE = (0x5D, 0xAD, 0xEC)
_WHITE = (0xFF, 0xFF, 0xFF)

LOOK_ALIKES: dict[str, LookAlike] = {
    "🎟": LookAlike("★", _GOLD),
    "🎁": LookAlike("★", _GOLD),
    "🎶": LookAlike("♫", _NOTE),
    "🎵": LookAlike("♪", _NOTE),
    "🎧": LookAlike("♫", _NOTE),
    "🔄": LookAlike("⟳", _WHITE, _BLUE_TILE),
    "🔁": LookAlike("↻", _WHITE, _BLUE_TILE),
    "▶": LookAlike("▶", _WHITE, _BLUE_TILE),
    "◀": LookAlike("◀", _WHITE, _BLUE_TILE),
    "⏸": LookAlike("‖", _WHITE, _BLUE_TILE),
    "⬇": LookAlike("⬇", _WHITE, _BLUE_TILE),
    "🎲": LookAlike("⚄", (0xE6, 0xE7, 0xE8)),
    "✏": LookAlike("✏", (0xFF, 0xCC, 0x4D)),
    "✅": LookAlike("✓", _WHITE, (0x77, 0xB2, 0x55)),
    "❌": LookAlike("✖", _RED),
    "✖": LookAlike("✖", (0xCC, 0xD6, 0xDD)),
    "❓": LookAlike("?", _RED),
    "⚠": LookAlike("⚠", (0xFF, 0xCC, 0x4D)),
    "🚫": LookAlike("⊘", _RED),
    "🛑": LookAlike("⬣", _RED),
    "⏳": LookAlike("◷", _GOLD),
    "⌛": LookAlike("◷", _GOLD),
    "⚙": LookAlike("⚙", (0x99, 0xAA, 0xB5)),
}


def _presents_as_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _PRESENTATION)


def split_emoji(text: str) -> list[tuple[str, bool]]:
    """`text` cut into runs: (run, is_emoji). An emoji run is one emoji with its variation
    selector, skin tone and zero-width-joined parts."""
    runs: list[tuple[str, bool]] = []
    plain = ""
    i = 0
    while i < len(text):
        char = text[i]
        selected = i + 1 < len(text) and text[i + 1] == VARIATION_SELECTOR
        if not (_presents_as_emoji(char) or selected):
            plain += char
            i += 1
            continue
        end = i + 1
        while end < len(text):
            if text[end] == VARIATION_SELECTOR or ord(text[end]) in SKIN_TONES:
                end += 1
            elif text[end] == ZWJ and end + 1 < len(text):
                end += 2
            else:
                break
        if plain:
            runs.append((plain, False))
            plain = ""
        runs.append((text[i:end], True))
        i = end
    if plain:
        runs.append((plain, False))
    return runs


def look_alike(emoji: str) -> LookAlike | None:
    """What stands in for `emoji` (its first code point decides)."""
    return LOOK_ALIKES.get(emoji[0])
