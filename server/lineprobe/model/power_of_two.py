"""Histograms by powers of two, as the kernel side counts them (argdist -H, bpftrace's hist()):
bucket 0 holds 0, bucket K the values 2^(K-1) .. 2^K - 1."""

from __future__ import annotations


def power_of_two_rows(counts: dict[int, int]) -> list[tuple[int, int, int]]:
    """(low, high, count) for each bucket from the lowest to the highest counted, the empty ones
    between included."""
    if not counts:
        return []
    rows = []
    for bucket in range(min(counts), max(counts) + 1):
        low, high = (0, 0) if bucket == 0 else (1 << (bucket - 1), (1 << bucket) - 1)
        rows.append((low, high, counts.get(bucket, 0)))
    return rows
