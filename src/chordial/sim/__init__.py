"""Deterministic discrete-event simulation of Chord: the same core on virtual time."""

from chordial.sim.network import LatencyModel, Network
from chordial.sim.scheduler import Scheduler
from chordial.sim.world import LookupStats, Simulation

__all__ = ["LatencyModel", "LookupStats", "Network", "Scheduler", "Simulation"]
