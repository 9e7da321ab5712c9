"""Near-duplicate groups from feature vectors: cosine similarity, blocked, then union-find."""

from __future__ import annotations

import numpy as np

__all__ = ["unit_rows", "similar_pairs", "groups_of"]

#: Rows of the similarity matrix computed at once (a block of BLOCK x N float32).
BLOCK = 1024


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def similar_pairs(unit: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, similarity)`` of every pair ``i < j`` whose cosine similarity is at least
    ``threshold`` (``unit``: rows of unit length)."""
    n = unit.shape[0]
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    for start in range(0, n, BLOCK):
        block = unit[start:start + BLOCK] @ unit[start:].T  # only the upper triangle
        rows, cols = np.nonzero(block >= threshold)
        cols = cols + start
        i = rows + start
        keep = cols > i
        found_i.append(i[keep])
        found_j.append(cols[keep])
        found_s.append(block[rows[keep], cols[keep] - start])
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return (np.concatenate(found_i), np.concatenate(found_j),
            np.concatenate(found_s).astype(np.float32))


def groups_of(n: int, i: np.ndarray, j: np.ndarray) -> list[list[int]]:
    """Connected groups (two or more members, each sorted) of the pairs ``(i, j)``,
    ordered by their first member."""
    parent = np.arange(n)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return int(root)

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for a in sorted(set(i.tolist()) | set(j.tolist())):
        members.setdefault(find(a), []).append(a)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
