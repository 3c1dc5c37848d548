"""Whisper's byte-level BPE tokenizer (GPT-2's), its special tokens, and how transcripts are compared."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from ...errors import ModelError

# tiny.en's special tokens; a multilingual model's come from its tokenizer (see WhisperAsr.__init__)
EOT = 50256


SOT = 50257


NO_SPEECH = 50361


NO_TIMESTAMPS = 50362


PROMPT = (SOT, NO_TIMESTAMPS)


ENDINGS = (".", "!", "?")  # a command may be written with a final mark; each counts as its end


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map, which its BPE vocabulary is written in."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class Tokenizer:
    """Whisper's byte-level BPE (GPT-2's): encodes command sentences, decodes transcripts."""

    _SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+")

    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.vocab: dict[str, int] = data["model"]["vocab"]
            merges = data["model"]["merges"]
            # merge ranks keyed by "left right" (the merges' own strings: no tuple per entry)
            self.ranks: dict[str, int] = {m if isinstance(m, str) else " ".join(m): i for i, m in enumerate(merges)}
            self.special = {str(a["content"]): int(a["id"]) for a in data.get("added_tokens", [])}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable tokenizer ({exc}); run 'python -m models.speech.fetch.fetch_asr "
                             f"--force'") from exc
        del data, merges
        self.inverse: list[str] = [""] * (max(self.vocab.values()) + 1)
        for k, v in self.vocab.items():
            self.inverse[v] = k
        self.eot = self.special.get("<|endoftext|>", EOT)
        self.byte_char = _byte_alphabet()
        self.char_byte = {c: b for b, c in self.byte_char.items()}
        self._cache: dict[str, list[int]] = {}

    def _word(self, word: str) -> list[int]:
        if word in self._cache:
            return self._cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = enumerate(itertools.pairwise(parts))
            rank, i = min((self.ranks.get(f"{a} {b}", 1 << 30), i) for i, (a, b) in pairs)
            if rank == 1 << 30:
                break
            parts = [*parts[:i], parts[i] + parts[i + 1], *parts[i + 2:]]
        ids = [self.vocab[p] for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        for piece in self._SPLIT.findall(text):
            out += self._word("".join(self.byte_char[b] for b in piece.encode("utf-8")))
        return out

    def decode(self, ids: list[int]) -> str:
        chars = "".join(self.inverse[i] for i in ids if 0 <= i < min(self.eot, len(self.inverse)))
        return bytes(self.char_byte[c] for c in chars if c in self.char_byte).decode("utf-8", "replace")


def normalize(text: str) -> str:
    """Lower case, letters/digits/apostrophes only ("%" read as "percent"), single spaces: how transcripts and
    phrases compare."""
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower().replace("-", " ").replace("%", " percent")).split())


def collapse_repeats(text: str) -> str:
    """The normalized text with immediate repetitions of a phrase of up to four words removed ("down, down,
    down" → "down", "3, 8, 7, 3, 8, 7" → "3 8 7"): Whisper tiny's loop on a short clip, not speech."""
    words = normalize(text).split()
    for n in (4, 3, 2, 1):
        i = 0
        out: list[str] = []
        while i < len(words):
            out.append(words[i])
            if len(out) >= 2 * n and out[-n:] == out[-2 * n:-n]:
                del out[-n:]
            i += 1
        words = out
    return " ".join(words)
