"""The NPZ data contract as code (`specs/data_contracts.md`).

`CONTRACT` is the key table of §2; a test parses the Markdown table and compares it with this one
in both directions. `validate_arrays` returns one message per problem, each naming the file, the
key, what was expected, what was found and the spec section. `normalise_legacy` turns legacy
files (`diff3d`, integer counts, intensity, float64 amplitudes) into contract form first.

Shape symbols: n patterns, N patch side, H x W object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SPEC = "specs/data_contracts.md"
KEYS_SECTION = "§2"
VALUES_SECTION = "§3"
LEGACY_SECTION = "§4"
DETECTOR_SECTION = "§6"
IMPORTS_SECTION = "§7"


@dataclass(frozen=True)
class KeySpec:
    """One row of the key table: `required` is "yes", "supervised" (simulated data) or "no"."""

    key: str
    required: str
    shape: str
    dtype: str
    meaning: str


CONTRACT: tuple[KeySpec, ...] = (
    KeySpec("diffraction", "yes", "(n, N, N)", "float32", "measured amplitude sqrt(counts) / s"),
    KeySpec("probeGuess", "yes", "(N, N)", "complex64", "probe (illumination)"),
    KeySpec("xcoords", "yes", "(n,)", "float64", "patch-centre column in object pixels"),
    KeySpec("ycoords", "yes", "(n,)", "float64", "patch-centre row in object pixels"),
    KeySpec("objectGuess", "supervised", "(H, W)", "complex64", "ground-truth object"),
    KeySpec("Y", "supervised", "(n, N, N)", "complex64", "ground-truth object patches"),
    KeySpec("scan_index", "no", "(n,)", "int64", "scan (acquisition) index of each pattern"),
    KeySpec("intensity_scale", "no", "()", "float64", "scale s: counts = (s * diffraction)^2"),
    KeySpec("dose", "no", "()", "float64", "mean photons per pattern"),
    KeySpec("metadata", "no", "()", "str", "JSON object: provenance (digest, seeds, git SHA)"),
    KeySpec(
        "mask", "no", "(N, N) or (n, N, N)", "bool", "valid detector pixels (False = excluded)"
    ),
    KeySpec(
        "background",
        "no",
        "() or (N, N)",
        "float32",
        "background intensity b added to the model intensity",
    ),  # fmt: skip
)

CONTRACT_BY_KEY = {spec.key: spec for spec in CONTRACT}
LEGACY_ALIASES = {"diff3d": "diffraction"}
DIFFRACTION_KINDS = ("amplitude", "counts", "intensity")


def _ref(section: str) -> str:
    return f"[{SPEC} {section}]"


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    return f"{tuple(arr.shape)} {_dtype_name(arr)}"


def _dtype_name(arr: np.ndarray) -> str:
    return "str" if arr.dtype.kind == "U" else str(arr.dtype)


def _expected_shape(spec: KeySpec, dims: dict[str, int]) -> tuple[str, tuple[int | None, ...]]:
    """The expected shape as text (with known sizes spelled out) and as a tuple (None = free)."""
    names = [s.strip() for s in spec.shape.strip("()").split(",") if s.strip()]
    sizes = tuple(dims.get(name) for name in names)
    known = [f"{name} = {dims[name]}" for name in dict.fromkeys(names) if name in dims]
    text = f"shape {spec.shape} {spec.dtype}"
    if known:
        text += " with " + ", ".join(known) + " (diffraction)"
    return text, sizes


def _shape_fits(shape: tuple[int, ...], sizes: tuple[int | None, ...]) -> bool:
    return len(shape) == len(sizes) and all(
        want is None or want == got for want, got in zip(sizes, shape, strict=True)
    )


def _check_key(source: str, key: str, value: Any, dims: dict[str, int]) -> list[str]:
    spec = CONTRACT_BY_KEY[key]
    arr = np.asarray(value)
    # A shape column may list alternatives ("(N, N) or (n, N, N)"): any one of them fits.
    options = [
        _expected_shape(KeySpec(key, spec.required, alt.strip(), spec.dtype, ""), dims)
        for alt in spec.shape.split(" or ")
    ]
    expected = " or ".join(text for text, _ in options)
    shape_ok = any(_shape_fits(arr.shape, sizes) for _, sizes in options)
    if not shape_ok or _dtype_name(arr) != spec.dtype:
        return [
            f"{source}: key '{key}': expected {expected}, found {_describe(arr)} "
            f"{_ref(KEYS_SECTION)}"
        ]
    return []


def _scan_values(arr: np.ndarray, rows: int = 256) -> tuple[int, int, float]:
    """(non-finite count, negative count, minimum) read in blocks of leading-axis rows, so a
    memory-mapped array is never materialised whole."""
    if arr.ndim == 0 or arr.size == 0:
        arr = arr.reshape(-1)
    bad = negative = 0
    minimum = np.inf
    for start in range(0, arr.shape[0], rows):
        block = np.asarray(arr[start : start + rows])
        finite = np.isfinite(block)
        bad += int(block.size - np.count_nonzero(finite))
        if np.iscomplexobj(block) or not block.size:
            continue
        negative += int(np.count_nonzero(block < 0))
        minimum = min(minimum, float(block[finite].min()) if finite.any() else np.inf)
    return bad, negative, minimum


def _value_problems(source: str, key: str, arr: np.ndarray) -> list[str]:
    """Finite values everywhere, non-negative amplitudes, positive scalars, JSON metadata."""
    if key == "metadata":
        try:
            parsed = json.loads(str(arr))
        except json.JSONDecodeError as exc:
            return [
                f"{source}: key 'metadata': expected a JSON object string, found invalid JSON "
                f"({exc.msg}) {_ref(VALUES_SECTION)}"
            ]
        if not isinstance(parsed, dict):
            return [
                f"{source}: key 'metadata': expected a JSON object string, found JSON "
                f"{type(parsed).__name__} {_ref(VALUES_SECTION)}"
            ]
        return []
    bad, negative, minimum = _scan_values(arr)
    if bad:
        return [
            f"{source}: key '{key}': expected finite values, found {bad} NaN/Inf of "
            f"{arr.size} {_ref(VALUES_SECTION)}"
        ]
    if key == "diffraction" and negative:
        return [
            f"{source}: key 'diffraction': expected amplitudes >= 0, found {negative} negative "
            f"values (min {minimum:.4g}) {_ref(VALUES_SECTION)}"
        ]
    if key == "background" and negative:
        return [
            f"{source}: key 'background': expected intensities >= 0, found {negative} negative "
            f"values (min {minimum:.4g}) {_ref(DETECTOR_SECTION)}"
        ]
    if key == "mask" and not bool(np.asarray(arr).any()):
        return [
            f"{source}: key 'mask': expected at least one valid (True) pixel, found none "
            f"{_ref(DETECTOR_SECTION)}"
        ]
    if key in ("intensity_scale", "dose") and float(arr) <= 0:
        return [
            f"{source}: key '{key}': expected a positive scalar, found {float(arr):.6g} "
            f"{_ref(VALUES_SECTION)}"
        ]
    return []


def _position_problems(source: str, arrays: Mapping[str, Any], n: int) -> list[str]:
    """With an object present, every N x N patch must lie inside it (§3)."""
    obj, x, y = arrays["objectGuess"], np.asarray(arrays["xcoords"]), np.asarray(arrays["ycoords"])
    h, w = np.asarray(obj).shape
    top, left = np.floor(y - n / 2.0), np.floor(x - n / 2.0)
    outside = (top < 0) | (left < 0) | (top + n > h) | (left + n > w)
    if bool(outside.any()):
        first = int(np.flatnonzero(outside)[0])
        return [
            f"{source}: keys 'xcoords'/'ycoords': expected every {n}x{n} patch inside the "
            f"{h}x{w} objectGuess, found {int(outside.sum())} outside (first: pattern {first} at "
            f"row {y[first]:.2f}, col {x[first]:.2f}) {_ref(VALUES_SECTION)}"
        ]
    return []


def validate_arrays(mapping: Mapping[str, Any], source: str) -> list[str]:
    """Every contract problem of `mapping` (key -> array), one message each; [] when valid.

    `source` names the file in the messages. Unknown keys are allowed and ignored; legacy keys
    must be normalised first (`normalise_legacy`).
    """
    hint = axis_order_hint(mapping, source)
    if hint:
        return hint  # every other message would follow from the transposed stack
    problems: list[str] = []
    for legacy, key in LEGACY_ALIASES.items():
        if legacy in mapping:
            problems.append(
                f"{source}: key '{legacy}': expected '{key}' (legacy alias not normalised), "
                f"found '{legacy}' {_ref(LEGACY_SECTION)}"
            )
    for spec in CONTRACT:
        if spec.required == "yes" and spec.key not in mapping:
            problems.append(
                f"{source}: key '{spec.key}': expected shape {spec.shape} {spec.dtype} "
                f"({spec.meaning}), found missing {_ref(KEYS_SECTION)}"
            )
    if "Y" in mapping and "objectGuess" not in mapping:
        problems.append(
            f"{source}: key 'objectGuess': expected with 'Y' (supervised data has both), "
            f"found missing {_ref(KEYS_SECTION)}"
        )
    dims: dict[str, int] = {}
    diffraction = mapping.get("diffraction")
    if diffraction is not None and np.ndim(diffraction) == 3:
        n, rows, cols = np.shape(diffraction)
        dims["n"] = n
        if rows == cols:
            dims["N"] = rows
    shape_ok: set[str] = set()
    for key in CONTRACT_BY_KEY:
        if key in mapping:
            found = _check_key(source, key, mapping[key], dims)
            problems.extend(found)
            if not found:
                shape_ok.add(key)
    if "diffraction" in mapping and "N" not in dims and np.ndim(diffraction) == 3:
        problems.append(
            f"{source}: key 'diffraction': expected square patterns (n, N, N), found "
            f"{_describe(diffraction)} {_ref(KEYS_SECTION)}"
        )
    for key in sorted(shape_ok, key=list(CONTRACT_BY_KEY).index):
        problems.extend(_value_problems(source, key, np.asarray(mapping[key])))
    if {"objectGuess", "xcoords", "ycoords", "diffraction"} <= shape_ok and "N" in dims:
        problems.extend(_position_problems(source, mapping, dims["N"]))
    return problems


def diffraction_kind(raw: np.ndarray, metadata: dict[str, Any]) -> str:
    """What a legacy diffraction array holds: integer dtype -> counts, else metadata's
    `diffraction_kind` ("amplitude" | "counts" | "intensity"), else amplitude."""
    if np.issubdtype(raw.dtype, np.integer):
        return "counts"
    kind = metadata.get("diffraction_kind", "amplitude")
    return kind if kind in DIFFRACTION_KINDS else "amplitude"


def _metadata_of(arrays: Mapping[str, Any]) -> dict[str, Any]:
    try:
        parsed = json.loads(str(arrays["metadata"])) if "metadata" in arrays else {}
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _legacy_layouts(arrays: dict[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """PtychoPINN's gridsize-1 `Y` (n, N, N, 1) loses its channel axis (with a warning)."""
    notes: list[str] = []
    if "Y" in arrays:
        y = np.asarray(arrays["Y"])
        if y.ndim == 4 and y.shape[-1] == 1:
            arrays["Y"] = y[..., 0]
            notes.append(
                f"{source}: key 'Y': legacy {tuple(y.shape)} (gridsize-1 channel axis) squeezed "
                f"to {tuple(y.shape[:3])} {_ref(LEGACY_SECTION)}"
            )
    return arrays, notes


def axis_order_hint(mapping: Mapping[str, Any], source: str) -> list[str]:
    """A diffraction stack stored (N, N, n) (patterns last) reads as n = N patterns of side N by
    n: say what it looks like and how to convert it, instead of a coordinate-length mismatch."""
    diffraction = mapping.get("diffraction")
    if diffraction is None or np.ndim(diffraction) != 3 or "xcoords" not in mapping:
        return []
    rows, cols, last = np.shape(diffraction)
    n = int(np.size(mapping["xcoords"]))
    if rows == cols == last or last != n or rows != cols:
        return []
    return [
        f"{source}: key 'diffraction': expected (n, N, N) with n = {n} (xcoords), found "
        f"{tuple(np.shape(diffraction))}: patterns stored last (N, N, n); convert with "
        f"np.moveaxis(diffraction, -1, 0) or `ptycho-nl import {source} --out OUT.npz` "
        f"{_ref(LEGACY_SECTION)}"
    ]


def normalise_legacy(mapping: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[str]]:
    """Legacy -> contract form (§4). Returns (arrays, warnings); never raises.

    - `diff3d` is renamed `diffraction`;
    - integer counts k become sqrt(k) / s with s = `intensity_scale` (1 when absent, recorded);
    - intensity I (metadata `diffraction_kind` = "intensity") becomes sqrt(I);
    - float64 amplitudes are cast to float32, and in `diff3d` files complex128 arrays to
      complex64.
    Conversions happen only on finite, non-negative values; anything else is left as found for
    `validate_arrays` to report.
    """
    arrays = dict(mapping)
    warnings: list[str] = []
    legacy = "diff3d" in arrays and "diffraction" not in arrays
    if legacy:
        arrays["diffraction"] = arrays.pop("diff3d")
        warnings.append(
            f"{source}: key 'diff3d' is a legacy alias, read as 'diffraction' {_ref(LEGACY_SECTION)}"
        )
        for key in ("probeGuess", "objectGuess", "Y"):
            if key in arrays and np.asarray(arrays[key]).dtype == np.complex128:
                arrays[key] = np.asarray(arrays[key]).astype(np.complex64)
                warnings.append(
                    f"{source}: key '{key}': legacy complex128 cast to complex64 "
                    f"{_ref(LEGACY_SECTION)}"
                )
    arrays, notes = _legacy_layouts(arrays, source)
    warnings.extend(notes)
    raw = np.asarray(arrays["diffraction"]) if "diffraction" in arrays else None
    if raw is None or raw.dtype.kind not in "iuf":
        return arrays, warnings
    metadata = _metadata_of(arrays)
    kind = diffraction_kind(raw, metadata)
    if kind == "amplitude" and raw.dtype == np.float32:
        return arrays, warnings
    values = raw.astype(np.float64)
    if not bool(np.isfinite(values).all()) or (values.size and float(values.min()) < 0):
        return arrays, warnings
    if kind == "counts":
        scale = float(np.asarray(arrays.get("intensity_scale", 1.0)))
        arrays["intensity_scale"] = np.float64(scale)
        values = np.sqrt(values) / scale
        note = f"{raw.dtype} counts converted to amplitude sqrt(k)/s with s = {scale:g}"
    elif kind == "intensity":
        values = np.sqrt(values)
        note = "intensity converted to amplitude sqrt(I)"
    else:
        note = f"{raw.dtype} amplitude cast to float32"
    arrays["diffraction"] = values.astype(np.float32)
    warnings.append(f"{source}: key 'diffraction': {note} {_ref(LEGACY_SECTION)}")
    if "metadata" in arrays and metadata.get("diffraction_kind", "amplitude") != "amplitude":
        # The converted array is an amplitude now; saying so keeps a re-save from converting twice.
        metadata["diffraction_kind"] = "amplitude"
        arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True, separators=(",", ":")))
    return arrays, warnings
