"""The simulated network: latency, loss, partitions and per-type message counts."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Literal

LatencyKind = Literal["constant", "uniform", "lognormal"]


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """One-way delay of a message, in seconds.

    ``lognormal`` is fitted to a WAN: ``median`` is its median and ``sigma`` the spread of the
    log (0.5 puts the 99th percentile at ~3.2× the median); ``uniform`` draws from
    [low, high]; ``constant`` is always ``median``.
    """

    kind: LatencyKind = "constant"
    median: float = 0.05
    low: float = 0.0
    high: float = 0.0
    sigma: float = 0.5

    @classmethod
    def wan(cls) -> LatencyModel:
        """Log-normal with a 100 ms median one-way delay."""
        return cls("lognormal", median=0.1, sigma=0.5)

    def sample(self, rng: random.Random) -> float:
        if self.kind == "constant":
            return self.median
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return rng.lognormvariate(math.log(self.median), self.sigma)


class Network:
    """Decides the fate of each message: delay, loss, or a partition that cuts it."""

    def __init__(self, rng: random.Random, latency: LatencyModel | None = None, loss: float = 0.0) -> None:
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"loss probability must be in [0, 1), got {loss}")
        self.rng = rng
        self.latency = latency or LatencyModel()
        self.loss = loss
        self._side: dict[str, int] = {}
        self.partitioned = False  # fast path: no side lookups while the network is whole
        self.sent: Counter[type] = Counter()  # by request class; see sent_by_name()
        self.dropped = 0
        self._constant = self.latency.kind == "constant"

    def sent_by_name(self) -> dict[str, int]:
        return {cls.__name__: count for cls, count in sorted(self.sent.items(), key=lambda kv: kv[0].__name__)}

    def delay(self) -> float:
        return self.latency.median if self._constant else self.latency.sample(self.rng)

    def lost(self) -> bool:
        return self.rng.random() < self.loss

    def cut_off(self, source: str, target: str) -> bool:
        side = self._side
        return side.get(source, 0) != side.get(target, 0)

    # Partitions: every address has a side (0 by default); messages cross no side boundary.
    def partition(self, *groups: list[str]) -> None:
        """Split the network: each group gets a side of its own, everybody else stays on side 0."""
        for number, group in enumerate(groups, start=1):
            for address in group:
                self._side[address] = number
        self.partitioned = bool(self._side)

    def isolate(self, address: str) -> None:
        self._side[address] = max(self._side.values(), default=0) + 1
        self.partitioned = True

    def heal(self) -> None:
        self._side.clear()
        self.partitioned = False
