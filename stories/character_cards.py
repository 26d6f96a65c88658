"""Character cards in and out: Character Card V1, V2 and V3 as JSON, or inside a PNG.

The format SillyTavern, RisuAI, Talemate and KoboldCpp share: V2 is
`{"spec": "chara_card_v2", "spec_version": "2.0", "data": {name, description,
personality, scenario, first_mes, ..., character_book}}`, V3 the same under
`"spec": "chara_card_v3"` with more fields; a V1 card is the flat object. A PNG card
carries the card's JSON base64-encoded in a `tEXt` chunk named `chara` (V2) or `ccv3`
(V3; preferred when both are there).

Cards are untrusted: the upload's size is capped by the form, the PNG is walked chunk by
chunk with every length checked against what is left (no image decoding, so Pillow is not
needed), the embedded text is capped before it is decoded, and the JSON goes through
`json_from_upload` with a lower depth limit (cards are shallow; the card is kept inside
the campaign file, which must stay readable). The card's JSON text is kept as it came, so
it exports back byte for byte: Carrel uses the name, description, personality, scenario
and book, and keeps everything else for the export.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from stories.exchange import ImportProblem, json_from_upload

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_MAX_DEPTH = 32  # cards nest about 6 levels; the campaign file adds a few more
PNG_MAX_CHUNKS = 10_000
SPEC_V2, SPEC_V3 = "chara_card_v2", "chara_card_v3"
SPEC_LABELS = {
    "v1": "Character Card V1",
    SPEC_V2: "Character Card V2",
    SPEC_V3: "Character Card V3",
}
_TEXT_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
    "nickname",
)


@dataclass(frozen=True)
class ParsedCard:
    spec: str  # "v1", SPEC_V2 or SPEC_V3
    text: str  # the card's JSON as it came (what exports back)
    data: dict[str, Any]  # the card's fields (V2/V3: its "data")

    @property
    def label(self) -> str:
        return SPEC_LABELS[self.spec]

    @property
    def book(self) -> dict[str, Any] | None:
        book = self.data.get("character_book")
        return book if isinstance(book, dict) else None


def png_text_chunks(raw: bytes, *, keywords: set[bytes], max_text: int) -> dict[bytes, bytes]:
    """The text of the PNG's `tEXt` chunks named in `keywords` (the first of each name).
    Checks the signature and every chunk's length; a text longer than `max_text` is refused."""
    if not raw.startswith(PNG_SIGNATURE):
        raise ImportProblem("This file is not a PNG image.")
    found: dict[bytes, bytes] = {}
    position, total = len(PNG_SIGNATURE), len(raw)
    for _count in range(PNG_MAX_CHUNKS):
        if position + 8 > total:
            raise ImportProblem("This PNG is cut short: a chunk header is missing.")
        (length,) = struct.unpack(">I", raw[position : position + 4])
        kind = raw[position + 4 : position + 8]
        start = position + 8
        end = start + length
        if length > 2**31 - 1 or end + 4 > total:
            raise ImportProblem("This PNG is cut short or damaged: a chunk runs past its end.")
        if kind == b"tEXt":
            keyword, sep, text = raw[start:end].partition(b"\x00")
            if sep and keyword in keywords and keyword not in found:
                if len(text) > max_text:
                    raise ImportProblem(
                        f"The card inside this PNG is {len(text):,} bytes; Carrel reads at "
                        f"most {max_text:,} (CARREL_LOREBOOK_MAX_MB)."
                    )
                found[keyword] = text
        position = end + 4  # past the CRC, which says nothing about the card
        if kind == b"IEND":
            return found
    raise ImportProblem(f"This PNG has more than {PNG_MAX_CHUNKS:,} chunks; Carrel stops there.")


def _card_text_from_png(raw: bytes) -> str:
    limit = settings.CARREL_LOREBOOK_MAX_BYTES
    # base64 is 4 bytes for every 3: allow the encoded form of `limit` bytes.
    chunks = png_text_chunks(raw, keywords={b"ccv3", b"chara"}, max_text=(limit * 4) // 3 + 4)
    encoded = chunks.get(b"ccv3") or chunks.get(b"chara")
    if encoded is None:
        raise ImportProblem("This PNG carries no character card (no “chara” or “ccv3” text chunk).")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImportProblem("The card inside this PNG is not valid base64.") from exc
    try:
        return decoded.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem("The card inside this PNG is not UTF-8 JSON.") from exc


def _check_fields(data: dict[str, Any]) -> None:
    name = data.get("name")
    if not isinstance(name, str) or not " ".join(name.replace("\x00", "").split()):
        raise ImportProblem("This character card has no name.")
    for field in _TEXT_FIELDS:
        if field in data and data[field] is not None and not isinstance(data[field], str):
            raise ImportProblem(f"This character card's “{field}” is not text.")
    book = data.get("character_book")
    if book is not None and not isinstance(book, dict):
        raise ImportProblem("This character card's “character_book” is not an object.")


def card_parse(raw: bytes) -> ParsedCard:
    """A character card from an uploaded file's bytes (PNG or JSON), or an ImportProblem."""
    if raw.startswith(PNG_SIGNATURE):
        text = _card_text_from_png(raw)
        value = json_from_upload(text.encode(), what="character card", max_depth=CARD_MAX_DEPTH)
    else:
        limit = settings.CARREL_LOREBOOK_MAX_BYTES
        if len(raw) > limit:
            raise ImportProblem(
                f"This character card is {len(raw):,} bytes of JSON; Carrel reads at most "
                f"{limit:,} (CARREL_LOREBOOK_MAX_MB)."
            )
        value = json_from_upload(raw, what="character card", max_depth=CARD_MAX_DEPTH)
        text = raw.decode("utf-8-sig")
    if not isinstance(value, dict):
        raise ImportProblem("A character card is a JSON object.")
    spec = value.get("spec")
    if spec in (SPEC_V2, SPEC_V3):
        data = value.get("data")
        if not isinstance(data, dict):
            raise ImportProblem(f"This {SPEC_LABELS[spec]} has no “data” object.")
    elif spec is None and isinstance(value.get("name"), str) and "entries" not in value:
        spec, data = "v1", value
    else:
        raise ImportProblem(
            "This is not a character card Carrel reads (Character Card V1, V2 or V3)."
        )
    _check_fields(data)
    return ParsedCard(spec=spec, text=text, data=data)


def _clean(value: Any) -> str:
    return str(value or "").replace("\x00", "").strip()


def card_description(card: ParsedCard) -> str:
    """What the dungeon master is told about the character: its description, then its
    personality and scenario when the card has them."""
    parts = [_clean(card.data.get("description"))]
    personality = _clean(card.data.get("personality"))
    if personality:
        parts.append(f"Personality: {personality}")
    scenario = _clean(card.data.get("scenario"))
    if scenario:
        parts.append(f"Scenario: {scenario}")
    return "\n\n".join(p for p in parts if p)


def card_name(card: ParsedCard) -> str:
    return " ".join(_clean(card.data.get("name")).split())[:200]
