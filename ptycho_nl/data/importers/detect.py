"""Which importer reads a file: by `--format`, else by what the file holds."""

from __future__ import annotations

from pathlib import Path

from ptycho_nl.data.importers.geometry import REF, ArrayMapping
from ptycho_nl.data.types import PtychoData
from ptycho_nl.errors import ContractError

FORMATS = ("auto", "npz", "cxi", "ptylab", "ptychodus", "generic")


def _members(path: Path) -> set[str]:
    if path.suffix.lower() in (".h5", ".hdf5", ".cxi", ".nxs"):
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                return set(handle.keys())
        except OSError as exc:
            raise ContractError(
                str(path), [f"{path}: not a readable HDF5 file ({exc}) {REF}"]
            ) from None
    from ptycho_nl.data.npz import read_npz_arrays

    return set(read_npz_arrays(path))


def detect_format(path: str | Path) -> str:
    """cxi (entry_1), ptylab (ptychogram), ptychodus (probe_position_*), npz (diffraction /
    diff3d), else generic (which needs a mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ContractError(str(path), [f"{path}: file not found {REF}"])
    members = _members(path)
    if "entry_1" in members:
        return "cxi"
    if "ptychogram" in members:
        return "ptylab"
    if members & {"probe_position_x_m", "probe_position_y_m", "probe_position_indexes"}:
        return "ptychodus"
    if members & {"diffraction", "diff3d"} and {"xcoords", "ycoords", "probeGuess"} <= members:
        return "npz"
    return "generic"


def import_file(
    src: str | Path,
    *,
    fmt: str = "auto",
    mapping: ArrayMapping | None = None,
    patterns: str | Path | None = None,
) -> PtychoData:
    """Read `src` with the importer of `fmt` ("auto": detected) into contract form.

    mapping  : the generic importer's array mapping (and the product's pattern keys)
    patterns : for a ptychodus product, the file holding the diffraction patterns
    """
    src = Path(src)
    if fmt not in FORMATS:
        raise ContractError(
            str(src), [f"{src}: format: expected one of {', '.join(FORMATS)}, found '{fmt}'"]
        )
    fmt = detect_format(src) if fmt == "auto" else fmt
    if fmt == "npz":
        from ptycho_nl.data.importers.legacy import import_legacy

        return import_legacy(src)
    if fmt == "cxi":
        from ptycho_nl.data.hdf5 import load_hdf5

        return load_hdf5(src)
    if fmt == "ptylab":
        from ptycho_nl.data.importers.ptylab import import_ptylab

        return import_ptylab(src)
    if fmt == "ptychodus":
        from ptycho_nl.data.importers.ptychodus import import_product

        if patterns is None:
            raise ContractError(
                str(src),
                [f"{src}: a ptychodus product holds no diffraction: expected --patterns FILE "
                 f"(with --diffraction KEY), found none {REF}"],
            )  # fmt: skip
        return import_product(src, patterns, mapping or ArrayMapping(positions="unused"))
    if mapping is None:
        raise ContractError(
            str(src),
            [f"{src}: generic arrays: expected a mapping (--diffraction KEY --positions KEY ...), "
             f"found none {REF}"],
        )  # fmt: skip
    from ptycho_nl.data.importers.generic import import_generic

    return import_generic(src, mapping)
