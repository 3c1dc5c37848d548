"""The decoder's self-attention keys and values of token prefixes, kept per encoding, shared over the token trie.

Constrained decoding extends a few hypotheses by one token per step; without a cache every step re-ran each
hypothesis's whole prefix. Here every prefix the decoder has seen under one encoding keeps its keys|values
(one row per token: all layers' keys|values of that token, which depend only on the token and its
ancestors), so a step feeds only the tokens not seen yet, each attending to its cached ancestors' rows
(``past_kv``) and to its new ancestors and itself (``mask``). Hypotheses sharing a prefix share its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_ROWS = 4096  # a cache over this many tokens starts over (a beam search of one utterance stays in the hundreds)


@dataclass(frozen=True)
class Plan:
    """One decoder run: its inputs, and the new prefixes whose rows its ``present_kv`` output holds."""

    feeds: dict[str, np.ndarray]
    new: list[tuple[int, ...]]
    chains: list[tuple[tuple[int, ...], list[int]]]  # per new prefix: its cached ancestors' rows, new ancestors


class PrefixCache:
    """Rows of keys|values (tokens, layers, 2D) by token prefix, for one encoding at a time; also the greedy
    transcript's path as far as it has been run ahead (``frontier``: its next prefix to run, None when it
    ended; ``ahead``: the distributions after the prefixes run ahead, that no caller asked for yet)."""

    def __init__(self, layers: int, width: int, start: tuple[int, ...]) -> None:
        self.buf = np.empty((64, layers, width), np.float32)
        self.rows: dict[tuple[int, ...], int] = {}
        self.chain: list[tuple[int, ...]] = []  # per row: the rows of its prefix's tokens, first to last
        self.owner: np.ndarray | None = None  # the encoding these rows belong to
        self.start = start
        self.frontier: tuple[int, ...] | None = start
        self.ahead: dict[tuple[int, ...], np.ndarray] = {}
        self.cross: dict[str, np.ndarray] = {}  # the encoding laid out as the decoder takes it (WhisperAsr._run)

    def bind(self, cross_kv: np.ndarray) -> None:
        """Use the cache for ``cross_kv``: a different encoding (or a full cache) starts it over."""
        if cross_kv is not self.owner or len(self.rows) > MAX_ROWS:
            self.owner = cross_kv
            self.rows.clear()
            self.chain.clear()
            self.frontier = self.start
            self.ahead.clear()
            self.cross.clear()

    def plan(self, seqs: Sequence[tuple[int, ...]]) -> tuple[Plan, list[int]]:
        """The run that gives the next-token distribution after each sequence (its last token is always fed,
        so its output can be read), and each sequence's index among the fed tokens."""
        index: dict[tuple[int, ...], int] = {}
        new: list[tuple[int, ...]] = []
        chains: list[tuple[tuple[int, ...], list[int]]] = []
        last: list[int] = []
        for s in seqs:
            k = len(s) - 1
            while k > 0 and s[:k] not in self.rows:
                k -= 1
            base = self.chain[self.rows[s[:k]]] if k else ()
            above: list[int] = []
            for m in range(k + 1, len(s) + 1):
                j = index.get(s[:m])
                if j is None:
                    j = index[s[:m]] = len(new)
                    new.append(s[:m])
                    chains.append((base, [*above, j]))
                above = chains[j][1]
            last.append(index[s])
        cols = sorted({r for base, _ in chains for r in base})
        col = {r: c for c, r in enumerate(cols)}
        mask = np.full((len(new), len(cols) + len(new)), -1e9, np.float32)
        for i, (base, above) in enumerate(chains):
            mask[i, [col[r] for r in base]] = 0.0
            mask[i, [len(cols) + j for j in above]] = 0.0
        feeds: dict[str, np.ndarray] = {
            "tokens": np.array([p[-1] for p in new], np.int64)[None],
            "positions": np.array([len(p) - 1 for p in new], np.int64)[None], "mask": mask,
            "past_kv": self.buf[cols] if cols else self.buf[:0]}
        return Plan(feeds, new, chains), last

    def store(self, plan: Plan, present: np.ndarray) -> None:
        """Keep the rows of a run's new prefixes (``present``: (new tokens, layers, 2D))."""
        rows_of: list[int] = []
        for i, p in enumerate(plan.new):
            r = self.rows.get(p)
            if r is None:
                base, above = plan.chains[i]
                r = self._add(p, present[i], base + tuple(rows_of[j] for j in above[:-1]))
            rows_of.append(r)

    def store_tree(self, nodes: dict[tuple[int, ...], int], present: np.ndarray) -> None:
        """Keep the rows of a run over a whole token tree with no past (``nodes``: prefix → its row in
        ``present``, parents first)."""
        for p, i in nodes.items():
            if p in self.rows:
                continue
            self._add(p, present[i], self.chain[self.rows[p[:-1]]] if len(p) > 1 else ())

    def _add(self, prefix: tuple[int, ...], row: np.ndarray, ancestors: tuple[int, ...]) -> int:
        r = self.rows[prefix] = len(self.chain)
        if r >= len(self.buf):
            self.buf = np.concatenate([self.buf, np.empty_like(self.buf)])
        self.buf[r] = row
        self.chain.append((*ancestors, r))
        return r
