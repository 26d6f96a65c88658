"""Character cards as the tools that share the format write them: V2 and V3 JSON, and PNG
files carrying a card base64-encoded in a tEXt chunk."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any


def book(*names: str) -> dict[str, Any]:
    return {
        "name": "Seraphina's world",
        "extensions": {"risu": {"kept": True}},
        "entries": [
            {
                "keys": [name, name.split()[-1].lower()],
                "content": f"About {name}.",
                "extensions": {"depth": 4},
                "enabled": True,
                "insertion_order": position,
                "id": position,
                "comment": name,
            }
            for position, name in enumerate(names)
        ],
    }


def v2_card(name: str = "Seraphina") -> dict[str, Any]:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": "A guardian of the Eldoria forest.",
            "personality": "Kind, protective, wry.",
            "scenario": "She found you hurt in the woods.",
            "first_mes": "*Seraphina kneels beside you.* Easy now.",
            "mes_example": "<START>\n{{char}}: Rest.",
            "creator_notes": "Made for testing; keep me.",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": ["Hello, traveller."],
            "tags": ["fantasy", "guardian"],
            "creator": "someone",
            "character_version": "1.2",
            "extensions": {"talkativeness": "0.5", "fav": False, "world": "Eldoria"},
            "character_book": book("Eldoria Forest", "Moonblade", "The Shadow Court"),
        },
    }


def v3_card(name: str = "Kael") -> dict[str, Any]:
    return {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": name,
            "nickname": "the Ferryman",
            "description": "Poles a barge across the Styx for coin.",
            "personality": "Silent.",
            "scenario": "",
            "first_mes": "...",
            "mes_example": "",
            "creator_notes": "",
            "creator_notes_multilingual": {"fr": "Le passeur."},
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": [],
            "group_only_greetings": ["The barge waits."],
            "tags": [],
            "creator": "",
            "character_version": "3",
            "extensions": {},
            "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
            "source": ["https://example.invalid/kael"],
            "creation_date": 1700000000,
            "modification_date": 1700000001,
            "character_book": {
                "entries": [
                    {
                        "keys": ["Styx"],
                        "content": "You are on the bank of a black river.",
                        "enabled": True,
                        "insertion_order": 0,
                        "use_regex": False,
                        "extensions": {},
                        "name": "The Styx",
                    },
                    {
                        "keys": ["obol"],
                        "content": "A coin for the ferryman.",
                        "enabled": True,
                        "insertion_order": 1,
                        "use_regex": False,
                        "extensions": {},
                        "name": "Item: Obol",
                    },
                ]
            },
        },
    }


def as_text(card: dict[str, Any]) -> str:
    """As SillyTavern writes a card: four-space indents, non-ASCII as it is."""
    return json.dumps(card, ensure_ascii=False, indent=4)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(*texts: tuple[bytes, bytes]) -> bytes:
    """A one-pixel PNG with the given (keyword, text) tEXt chunks."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    chunks = [_chunk(b"IHDR", header)]
    chunks += [_chunk(b"tEXt", keyword + b"\x00" + text) for keyword, text in texts]
    chunks += [_chunk(b"IDAT", pixels), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def card_png(text: str, keyword: bytes = b"chara") -> bytes:
    return png((keyword, base64.b64encode(text.encode())))
