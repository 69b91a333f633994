"""The asyncio driver of a core node: runs its procedures over a Transport and fires its timers."""

from chordial.runtime.node import NodeRuntime, start_node

__all__ = ["NodeRuntime", "start_node"]
