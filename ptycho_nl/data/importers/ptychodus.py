"""Ptychodus product files (HDF5 or NPZ): probe, object, positions in metres, metadata.

A product holds no diffraction data, so the patterns come from a second file (`patterns`, read
through an `ArrayMapping`). Layout read (names as ptychodus writes them; NPZ members prefix the
probe and object attributes with `probe_` / `object_`):

    probe_position_x_m, probe_position_y_m   (n,) positions, metres
    probe_position_indexes                  (n,) pattern index of each position
    probe                                    (N, N), (K, N, N) or (1, K, N, N) complex
    object                                   (H, W) or (L, H, W) complex; attributes
        pixel_width_m, pixel_height_m, center_x_m, center_y_m
    root attributes: name, probe_energy_eV, detector_object_distance_m, ...
    loss_values (loss_epochs)                the reconstruction's cost per epoch
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.data.importers.generic import convert, read_keys
from ptycho_nl.data.importers.geometry import REF, ArrayMapping, Geometry, squeeze_to
from ptycho_nl.data.npz import read_npz_arrays
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError

POSITION_X, POSITION_Y, INDEXES = (
    "probe_position_x_m",
    "probe_position_y_m",
    "probe_position_indexes",
)
PROBE, OBJECT = "probe", "object"
OBJECT_ATTRS = ("pixel_width_m", "pixel_height_m", "center_x_m", "center_y_m")
SCALARS = ("name", "comments", "probe_energy_eV", "detector_object_distance_m", "exposure_time_s")


@dataclass
class Product:
    """What a product file holds, in its own units."""

    x_m: np.ndarray
    y_m: np.ndarray
    indexes: np.ndarray
    probe: np.ndarray  # (K, N, N) complex
    object: np.ndarray  # (H, W) complex (first layer)
    pixel_m: tuple[float, float]  # (height, width)
    center_m: tuple[float, float]  # (y, x)
    attrs: dict[str, Any] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)


def _plain(value: Any) -> Any:
    value = np.asarray(value)
    if value.dtype.kind in "SUO":
        item = value.item()
        return item.decode() if isinstance(item, bytes) else str(item)
    return float(value) if value.ndim == 0 else value


def read_product(path: str | Path) -> Product:
    """Read a ptychodus product; a missing dataset -> one line naming it."""
    path = Path(path)
    source = str(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        try:
            handle = h5py.File(path, "r")
        except OSError as exc:
            raise ContractError(
                source, [f"{source}: not a readable HDF5 file ({exc}) {REF}"]
            ) from None
        with handle:
            needed = [POSITION_X, POSITION_Y, PROBE, OBJECT]
            absent = [k for k in needed if k not in handle]
            absent += [
                f"{OBJECT}@{a}"
                for a in OBJECT_ATTRS
                if OBJECT in handle and a not in handle[OBJECT].attrs
            ]
            _refuse(source, absent)
            values = {k: handle[k][()] for k in (POSITION_X, POSITION_Y, PROBE, OBJECT)}
            values.update({a: handle[OBJECT].attrs[a] for a in OBJECT_ATTRS})
            values[INDEXES] = handle[INDEXES][()] if INDEXES in handle else None
            values["loss"] = handle["loss_values"][()] if "loss_values" in handle else []
            attrs = {k: _plain(handle.attrs[k]) for k in SCALARS if k in handle.attrs}
    else:
        keys = {k: k for k in (POSITION_X, POSITION_Y, PROBE, OBJECT)}
        keys.update({a: f"object_{a}" for a in OBJECT_ATTRS})
        try:
            values = read_keys(path, keys)
        except ContractError as exc:
            raise ContractError(source, [f"{p} {REF}" for p in exc.problems]) from None
        arrays = read_npz_arrays(path)
        values[INDEXES] = arrays.get(INDEXES)
        values["loss"] = arrays.get("loss_values", [])
        attrs = {k: _plain(arrays[k]) for k in SCALARS if k in arrays}
    probe = squeeze_to(values[PROBE], 3)
    probe = probe[None] if probe.ndim == 2 else probe
    obj = squeeze_to(values[OBJECT], 2)
    obj = obj[0] if obj.ndim == 3 else obj
    x_m, y_m = (np.asarray(values[k], np.float64).reshape(-1) for k in (POSITION_X, POSITION_Y))
    indexes = values[INDEXES]
    return Product(
        x_m=x_m,
        y_m=y_m,
        indexes=np.arange(len(x_m)) if indexes is None else np.asarray(indexes).reshape(-1),
        probe=probe,
        object=obj,
        pixel_m=(float(values["pixel_height_m"]), float(values["pixel_width_m"])),
        center_m=(float(values["center_y_m"]), float(values["center_x_m"])),
        attrs=attrs,
        losses=[float(v) for v in np.asarray(values["loss"]).reshape(-1)],
    )


def _refuse(source: str, absent: list[str]) -> None:
    if absent:
        raise ContractError(
            source,
            [
                f"{source}: dataset '{k}': expected as ptychodus writes it, found missing {REF}"
                for k in absent
            ],
        )


def import_product(
    product_path: str | Path, patterns: str | Path, mapping: ArrayMapping
) -> PtychoData:
    """Probe and positions from a product, diffraction (and mask) from `patterns`.

    Positions become object pixels of the product's object frame, (y - center_y) / pixel_height
    + H / 2 (and likewise x); the probe mode of largest power is kept (the contract has one).
    """
    product = read_product(product_path)
    source = str(product_path)
    raw = read_keys(patterns, {"diffraction": mapping.diffraction, "mask": mapping.mask})
    stack = squeeze_to(raw["diffraction"], 3)
    index = product.indexes.astype(np.int64)
    in_range = len(index) == len(product.x_m) and index.min(initial=0) >= 0
    if stack.ndim == 3 and in_range and index.max(initial=-1) < len(stack):
        raw["diffraction"] = stack[index]  # positions name their patterns by index
    h, w = product.object.shape
    rows = (product.y_m - product.center_m[0]) / product.pixel_m[0] + h / 2
    cols = (product.x_m - product.center_m[1]) / product.pixel_m[1] + w / 2
    raw["positions"] = np.stack([rows, cols], axis=1)
    powers = np.square(np.abs(product.probe)).sum(axis=(-2, -1))
    raw["probe"] = product.probe[int(np.argmax(powers))]
    local = mapping.model_copy(
        update={
            "positions": "probe_position_*_m", "units": "px", "positions_are": "centre",
            "axis_order": "rowcol", "xcoords": None, "ycoords": None,
            "geometry": Geometry(pixel_size_m=product.pixel_m[1]),
        }
    )  # fmt: skip
    metadata = {
        "source_format": "ptychodus-product",
        "patterns": str(patterns),
        "product": {
            **product.attrs,
            "probe_modes": int(len(product.probe)),
            "losses": product.losses,
        },
    }
    return convert(raw, local, source, metadata)
