"""Importers: measured data from the field's formats into the NPZ contract
(`specs/data_contracts.md` §7, `docs/measured_data.md`).

`import_file(src, fmt=..., mapping=...)` picks the reader by `fmt` (or by what the file holds)
and returns a contract-valid `PtychoData` whose metadata records the source and the mapping.
"""

from __future__ import annotations

from ptycho_nl.data.importers.detect import FORMATS, detect_format, import_file
from ptycho_nl.data.importers.geometry import ArrayMapping, Geometry

__all__ = ["FORMATS", "ArrayMapping", "Geometry", "detect_format", "import_file"]
