"""Token tries of candidate sentences: the decoder's tree inputs, and the trie that constrained decoding walks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def token_tree(seqs: Sequence[Sequence[int]]) -> tuple[dict[tuple[int, ...], int], dict[str, np.ndarray]]:
    """Every distinct prefix of ``seqs`` as one node (parents first, in first-seen order) → (prefix → node
    index, the decoder's ``tokens``, ``positions`` and ``mask`` inputs: each node attends to its ancestors and
    itself)."""
    nodes: dict[tuple[int, ...], int] = {}
    parent: list[int] = []
    for s in seqs:
        prev = -1
        for k in range(1, len(s) + 1):
            key = tuple(s[:k])
            idx = nodes.get(key)
            if idx is None:
                idx = nodes[key] = len(parent)
                parent.append(prev)
            prev = idx
    n = len(parent)
    tokens = np.fromiter((key[-1] for key in nodes), np.int64, n)
    positions = np.fromiter((len(key) - 1 for key in nodes), np.int64, n)
    mask = np.full((n, n), -1e9, np.float32)
    for i in range(n):
        j = i
        while j >= 0:
            mask[i, j] = 0.0
            j = parent[j]
    return nodes, {"tokens": tokens[None], "positions": positions[None], "mask": mask}


@dataclass
class TokenTrie:
    """Token sequences of every written form of every sentence; ``ends[node]``: the entries ending there."""

    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    ends: dict[int, list[int]] = field(default_factory=dict)

    def next_tokens(self, node: int) -> dict[int, int]:
        return self.children[node]

    def sentences_at(self, node: int) -> list[int]:
        return self.ends.get(node, [])

    def add(self, tokens: list[int], entry: int) -> None:
        node = 0
        for t in tokens:
            nxt = self.children[node].get(t)
            if nxt is None:
                nxt = len(self.children)
                self.children[node][t] = nxt
                self.children.append({})
            node = nxt
        self.ends.setdefault(node, [])
        if entry not in self.ends[node]:
            self.ends[node].append(entry)
