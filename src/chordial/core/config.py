"""Ring-wide and per-node settings of the Chord protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chordial.core.ids import DEFAULT_ID_BITS

Consistency = Literal["linearizable", "eventual"]
CONSISTENCY_MODES: tuple[Consistency, ...] = ("linearizable", "eventual")


@dataclass(frozen=True, slots=True)
class ChordConfig:
    """Settings shared by every node of one ring.

    Periods are in seconds of whatever clock the driver feeds the core (wall time in the
    asyncio runtime, virtual time in the simulator).
    """

    id_bits: int = DEFAULT_ID_BITS
    successors: int = 4
    stabilize_period: float = 0.5
    fix_fingers_period: float = 0.5
    check_predecessor_period: float = 1.0
    rpc_timeout: float = 1.0
    max_key_bytes: int = 1024
    max_value_bytes: int = 1024 * 1024
    data_op_attempts: int = 6
    retry_backoff: float = 0.05
    replicas: int = 3
    consistency: Consistency = "linearizable"
    repair_period: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.id_bits <= 256:
            raise ValueError(f"id bits must be between 1 and 256, got {self.id_bits}")
        if self.successors < 1:
            raise ValueError(f"successor list length must be at least 1, got {self.successors}")
        for name in ("stabilize_period", "fix_fingers_period", "check_predecessor_period", "rpc_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', ' ')} must be positive")
        if self.replicas < 1:
            raise ValueError(f"replication factor must be at least 1, got {self.replicas}")
        if self.successors < self.replicas - 1:
            raise ValueError(
                f"{self.replicas} replicas need a successor list of at least {self.replicas - 1}, got {self.successors}"
            )
        if self.consistency not in CONSISTENCY_MODES:
            raise ValueError(f"consistency must be one of {', '.join(CONSISTENCY_MODES)}, got {self.consistency!r}")
        if self.repair_period <= 0:
            raise ValueError("repair period must be positive")
        if self.max_key_bytes < 1 or self.max_value_bytes < 0:
            raise ValueError("key and value limits must be positive")

    @property
    def max_lookup_hops(self) -> int:
        """Bound on the steps of one lookup: generous, so it only stops routing loops."""
        return 2 * self.id_bits + 32
