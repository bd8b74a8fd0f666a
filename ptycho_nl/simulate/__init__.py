"""Simulated ptychography datasets: objects, probes, scans, Poisson-noisy diffraction.

Axis legend: n scan positions, N probe/patch side, H x W object; positions (n, 2) float64 are
(row, col) patch centres in object pixels (docs/architecture.md, "Physics conventions").

Modules: `config` (SimulationConfig, PRESETS, VIEWS), `objects`, `probes` (make_probe,
probe_diameter), `scans` (make_scan, measure_overlap, split_by_region), `dataset` (simulate,
simulate_dataset, simulate_train_test). Not imported here: `shards` (write_shard_set: one scan
as K resumable shards) and `pilot` (pilot_record: the pilot -> scale check), docs/data.md.
"""

from ptycho_nl.simulate.config import (
    PRESETS,
    VIEWS,
    ObjectConfig,
    ProbeConfig,
    ScanConfig,
    SimulationConfig,
)
from ptycho_nl.simulate.dataset import (
    git_sha,
    seeds_for,
    simulate,
    simulate_dataset,
    simulate_train_test,
)
from ptycho_nl.simulate.objects import make_object
from ptycho_nl.simulate.probes import ENCLOSED_ENERGY, make_probe, probe_diameter
from ptycho_nl.simulate.scans import (
    make_scan,
    measure_overlap,
    min_object_shape,
    nearest_neighbour_distances,
    split_by_region,
)

__all__ = [
    "ENCLOSED_ENERGY",
    "PRESETS",
    "VIEWS",
    "ObjectConfig",
    "ProbeConfig",
    "ScanConfig",
    "SimulationConfig",
    "git_sha",
    "make_object",
    "make_probe",
    "make_scan",
    "measure_overlap",
    "nearest_neighbour_distances",
    "min_object_shape",
    "probe_diameter",
    "seeds_for",
    "simulate",
    "simulate_dataset",
    "simulate_train_test",
    "split_by_region",
]
