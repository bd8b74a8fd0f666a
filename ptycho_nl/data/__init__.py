"""Data bridges: the NPZ contract, readers and writers, the memory-mapped dataset bridge."""

from ptycho_nl.data.types import PtychoData

__all__ = ["PtychoData"]
