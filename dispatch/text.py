"""Text normalisation for what people type and what spreadsheets hold."""

from __future__ import annotations

import unicodedata

_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters, half-width kana) and trimmed: how all input is compared."""
    return unicodedata.normalize("NFKC", text).strip()


def to_katakana(text: str) -> str:
    return normalise(text).translate(_HIRAGANA_TO_KATAKANA)
