"""Named random streams, one ``numpy.random.Generator`` per purpose.

Streams are keyed by (seed, replication, name) so that they never share draws: two
scenarios that differ only in policy see the same orders, walk-ins and customer
behaviour in replication r (common random numbers), and a paired comparison is valid.
"""

from __future__ import annotations

import zlib

import numpy as np

STREAMS = ("demand", "basket", "behaviour", "walk_in", "inventory", "travel", "failures")


def stream(seed: int, replication: int, name: str) -> np.random.Generator:
    """The generator for one purpose; the same arguments always give the same draws."""
    if name not in STREAMS:
        raise KeyError(f"unknown random stream {name!r}; known: {STREAMS}")
    # A stable hash of the name (not Python's salted hash) keys the stream.
    key = zlib.crc32(name.encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, replication, key])))


def streams(seed: int, replication: int) -> dict[str, np.random.Generator]:
    """All streams of one replication."""
    return {name: stream(seed, replication, name) for name in STREAMS}
