"""Discrete-event scheduler on virtual time (no asyncio: a heap of timestamped callbacks).

Ties are broken by a sequence number, so the order of events is a pure function of the order
in which they were scheduled — with one seeded ``random.Random`` behind every random choice,
a run is identical event for event (FoundationDB-style deterministic simulation).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

Callback = Callable[..., None]


class Scheduler:
    """Virtual clock plus a queue of callbacks."""

    __slots__ = ("_heap", "_seq", "events_run", "now")

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callback, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.events_run = 0

    def at(self, when: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` at virtual time ``when`` (never earlier than now)."""
        heapq.heappush(self._heap, (when if when > self.now else self.now, next(self._seq), callback, args))

    def after(self, delay: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` ``delay`` (≥ 0) virtual seconds from now."""
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), callback, args))

    def __len__(self) -> int:
        return len(self._heap)

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_until(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Run every event due up to ``until`` (inclusive), then leave the clock at ``until``."""
        heap = self._heap
        pop = heapq.heappop
        count = 0
        while heap and heap[0][0] <= until:
            when, _, callback, args = pop(heap)
            self.now = when
            callback(*args)
            count += 1
            if stop is not None and stop():
                break
        self.events_run += count
        if not heap or heap[0][0] > until:
            self.now = max(self.now, until)

    def step(self) -> bool:
        """Run the next event; False when there is none."""
        if not self._heap:
            return False
        when, _, callback, args = heapq.heappop(self._heap)
        self.now = when
        callback(*args)
        self.events_run += 1
        return True
