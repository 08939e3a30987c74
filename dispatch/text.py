"""Text normalisation for what people type and what spreadsheets hold."""

from __future__ import annotations

import re
import unicodedata

_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}

# Characters no name, sender unit or note needs, refused wherever text comes in: C0 and C1 controls and
# DEL (ESC, BEL, backspace, NUL ...), the bidirectional embeddings, overrides and isolates (U+202E turns
# 「課防災」 into what reads as another name), the invisible marks and zero-width characters (two units
# that look the same would be two keys), and the byte-order mark. Tab and line breaks are allowed only in
# text of several lines (a note).
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")
_UNSAFE_LINES = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_INVISIBLE}]")


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters, half-width kana) and trimmed: how all input is compared."""
    return unicodedata.normalize("NFKC", text).strip()


def to_katakana(text: str) -> str:
    return normalise(text).translate(_HIRAGANA_TO_KATAKANA)


def unsafe_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The control, bidirectional and invisible characters in text, each once, in order of appearance."""
    pattern = _UNSAFE_LINES if multiline else _UNSAFE_LINE
    return list(dict.fromkeys(pattern.findall(text)))


def unsafe_characters_problem(label: str, text: str, *, multiline: bool = False) -> str | None:
    """Why text holding such characters is refused, naming them; None when it has none.

    Refused rather than stripped: what is stored would differ from what was typed without anyone noticing,
    and a pasted value carrying them usually came from somewhere worth checking. The message names the code
    points, because the characters themselves cannot be seen.
    """
    found = unsafe_characters(text, multiline=multiline)
    if not found:
        return None
    codes = "、".join(f"U+{ord(char):04X}" for char in found[:5])
    return f"{label}に制御文字または見えない文字（{codes}）が含まれています。削除してから入力してください。"
