"""Reconstructions written as ptychodus product files (HDF5 by default, NPZ by suffix), so they
open in ptychodus (`ptycho-nl export --product`; specs/data_contracts.md §7).

Names and units follow ptychodus' product readers: root attributes (name, comments,
detector_object_distance_m, probe_energy_eV, probe_photon_count, exposure_time_s,
mass_attenuation_m2_kg), probe_position_indexes / _x_m / _y_m, `probe` (K, N, N) with its pixel
size, `object` (1, H, W) with its pixel size and centre (0, 0), object_layer_spacing_m (empty),
loss_epochs / loss_values. Positions in metres are relative to the object's centre:
x = (col - W / 2) p, y = (row - H / 2) p. NPZ members carry the attributes as `probe_*` /
`object_*` arrays, as ptychodus' NPZ product reader expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ptycho_nl.data.npz import write_npz_deterministic
from ptycho_nl.io_utils import atomic_write


@dataclass
class ProductContent:
    """A reconstruction in product terms; `positions` (n, 2) (row, col) object pixels."""

    object: np.ndarray
    probe: np.ndarray
    positions: np.ndarray
    pixel_size_m: float
    losses: list[float] = field(default_factory=list)
    name: str = "ptycho-nl"
    comments: str = ""
    energy_ev: float = 0.0
    distance_m: float = 0.0


def _arrays(content: ProductContent) -> dict[str, np.ndarray]:
    obj = np.asarray(content.object, np.complex64)
    h, w = obj.shape[-2:]
    pos = np.asarray(content.positions, np.float64)
    probe = np.asarray(content.probe, np.complex64)
    return {
        "probe_position_indexes": np.arange(len(pos), dtype=np.int64),
        "probe_position_x_m": (pos[:, 1] - w / 2) * content.pixel_size_m,
        "probe_position_y_m": (pos[:, 0] - h / 2) * content.pixel_size_m,
        "probe": probe[None] if probe.ndim == 2 else probe,
        "object": obj[None] if obj.ndim == 2 else obj,
        "object_layer_spacing_m": np.zeros(0, np.float64),
        "loss_epochs": np.arange(len(content.losses), dtype=np.int64),
        "loss_values": np.asarray(content.losses, np.float64),
    }


def _attrs(content: ProductContent) -> dict[str, object]:
    return {
        "name": content.name,
        "comments": content.comments,
        "detector_object_distance_m": float(content.distance_m),
        "probe_energy_eV": float(content.energy_ev),
        "probe_photon_count": 0.0,
        "exposure_time_s": 0.0,
        "mass_attenuation_m2_kg": 0.0,
    }


def write_product(path: str | Path, content: ProductContent) -> Path:
    """Write `content` atomically as a product: NPZ when `path` ends in .npz, else HDF5."""
    path = Path(path)
    arrays, attrs = _arrays(content), _attrs(content)
    p = float(content.pixel_size_m)
    if path.suffix.lower() == ".npz":
        members = {key: np.asarray(value) for key, value in attrs.items()}
        members.update(arrays)
        members.update({"probe_pixel_width_m": p, "probe_pixel_height_m": p})
        members.update({"object_pixel_width_m": p, "object_pixel_height_m": p})
        members.update({"object_center_x_m": 0.0, "object_center_y_m": 0.0})
        return write_npz_deterministic(path, {k: np.asarray(v) for k, v in members.items()})

    def writer(tmp: Path) -> None:
        import h5py

        with h5py.File(tmp, "w") as handle:
            for key, value in attrs.items():
                handle.attrs[key] = value
            for key, value in arrays.items():
                handle.create_dataset(key, data=value)
            for name in ("probe", "object"):
                handle[name].attrs["pixel_width_m"] = p
                handle[name].attrs["pixel_height_m"] = p
            handle["object"].attrs["center_x_m"] = 0.0
            handle["object"].attrs["center_y_m"] = 0.0

    return atomic_write(path, writer)
