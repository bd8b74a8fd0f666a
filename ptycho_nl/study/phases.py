"""The phases of the dose/overlap study, each owning its manifest key, title and directory.

    C generate   data/       one object, one raster scan per (dose, view), train/test split
    D views      views/      each view's files validated, overlap measured
    E train      runs/       each network trained, then the test region reconstructed
    F iterative  iterative/  each iterative solver on the test patterns
    G compare    compare/    every reconstruction aligned and scored on the test region

The keys (C-G) name the manifests (`manifests/phase_C.json`) and prefix job ids; no other
module spells a key or a directory.
"""

from __future__ import annotations

from ptycho_nl.study.jobs import Phase

GENERATE = Phase("C", "generate", "data")
VIEWS = Phase("D", "views", "views")
TRAIN = Phase("E", "train", "runs")
ITERATIVE = Phase("F", "iterative", "iterative")
COMPARE = Phase("G", "compare", "compare")
PHASES = (GENERATE, VIEWS, TRAIN, ITERATIVE, COMPARE)  # run order


def dose_tag(dose: float) -> str:
    """1e4 -> 'd1e4': the dose as it appears in job ids."""
    mantissa, exponent = f"{dose:.0e}".split("e")
    return f"d{mantissa}e{int(exponent)}"


def cell_tag(dose: float, view: str) -> str:
    """The (dose, view) cell's part of every job id: 'd1e4-dense'."""
    return f"{dose_tag(dose)}-{view}"
