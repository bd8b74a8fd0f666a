"""`ptycho-nl import`, `export`, `inspect` and `resolution`: measured data in and out, its
detector statistics, and resolution without ground truth (docs/measured_data.md).

Thin layers over `data.importers`, `data.product`, `data.detector` and `evaluate.resolution`.
Exit codes (tools.common.output): 0 ok, 1 invalid input (a file that cannot be read or
converted), 2 usage (a bad option or mapping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting

MAPPING = "Array mapping (generic files; --diffraction also names a product's pattern key)"
GEOMETRY = "Geometry (positions in metres)"


def _map(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=MAPPING)


def _geo(help: str) -> Any:
    return typer.Option(help=help, rich_help_panel=GEOMETRY)


def _mapping(fields: dict[str, Any], geometry: dict[str, Any], needed: bool):
    """An ArrayMapping from the flags given (None when none was given and none is needed)."""
    from pydantic import ValidationError

    from ptycho_nl.data.importers import ArrayMapping, Geometry

    given = {k: v for k, v in fields.items() if v is not None}
    geo = {k: v for k, v in geometry.items() if v is not None}
    if not given and not geo and not needed:
        return None
    try:
        return ArrayMapping(**given, geometry=Geometry(**geo))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mapping"
        raise CommandError(f"mapping: {where}: {first['msg']}") from None


def import_command(
    src: Annotated[Path, typer.Argument(help="File to import (NPZ, HDF5, CXI, product).")],
    out: Annotated[Path, typer.Option("--out", help="Contract NPZ file to write.")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="auto, npz, cxi, ptylab, ptychodus or generic."),
    ] = "auto",
    patterns: Annotated[
        Path | None,
        typer.Option("--patterns", help="Ptychodus product: the file holding the patterns."),
    ] = None,
    diffraction: Annotated[str | None, _map("Key of the (n, N, N) patterns.")] = None,
    positions: Annotated[str | None, _map("Key of the (n, 2) positions.")] = None,
    xcoords: Annotated[str | None, _map("Key of the (n,) column positions.")] = None,
    ycoords: Annotated[str | None, _map("Key of the (n,) row positions.")] = None,
    probe: Annotated[str | None, _map("Key of the (N, N) probe (else one is estimated).")] = None,
    mask: Annotated[str | None, _map("Key of a detector mask, True = valid.")] = None,
    dc: Annotated[str | None, _map("Zero frequency at the corner or centre.")] = None,
    kind: Annotated[str | None, _map("Patterns hold counts, intensity or amplitude.")] = None,
    positions_are: Annotated[str | None, _map("Positions are patch corner or centre.")] = None,
    axis_order: Annotated[str | None, _map("Position columns: rowcol or xy.")] = None,
    units: Annotated[str | None, _map("Position units: px or m.")] = None,
    pixel_size: Annotated[float | None, _geo("Sample-plane pixel, metres.")] = None,
    wavelength: Annotated[float | None, _geo("Wavelength, metres.")] = None,
    energy: Annotated[float | None, _geo("Photon energy, eV.")] = None,
    distance: Annotated[float | None, _geo("Sample-detector distance, metres.")] = None,
    detector_pixel: Annotated[float | None, _geo("Detector pixel, metres.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Convert measured data (CXI, PtyLab HDF5, ptychodus product + patterns, legacy NPZ, or any
    NPZ/HDF5 through an explicit mapping) into a contract NPZ; metadata records the source and
    the mapping. Nothing is written when the input is refused."""
    from ptycho_nl.errors import PtychoError

    with reporting(as_json, failures=(PtychoError,)):
        from ptycho_nl.data.importers import FORMATS, import_file
        from ptycho_nl.data.npz import save_npz

        if fmt not in FORMATS:
            raise CommandError(f"--format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
        fields = {
            "diffraction": diffraction, "positions": positions, "xcoords": xcoords,
            "ycoords": ycoords, "probe": probe, "mask": mask, "dc": dc, "kind": kind,
            "positions_are": positions_are, "axis_order": axis_order, "units": units,
        }  # fmt: skip
        if fmt == "ptychodus" or patterns is not None:
            fields["positions"] = fields["positions"] or "unused"  # the product's own
        geometry = {
            "pixel_size_m": pixel_size, "wavelength_m": wavelength, "energy_ev": energy,
            "distance_m": distance, "detector_pixel_m": detector_pixel,
        }  # fmt: skip
        mapping = _mapping(fields, geometry, needed=fmt == "generic")
        data = import_file(src, fmt=fmt, mapping=mapping, patterns=patterns)
        save_npz(data, out)
    meta = data.metadata
    summary = {
        "out": str(out), "source_format": meta.get("source_format"), "n_patterns": data.n_patterns,
        "patch_size": data.patch_size, "object_shape": list(data.object_shape),
        "sample_pixel_size_m": meta.get("sample_pixel_size_m"), "mask": data.mask is not None,
    }  # fmt: skip
    text = (
        f"wrote {out}: {data.n_patterns} patterns of {data.patch_size}x{data.patch_size} "
        f"({summary['source_format']}), object frame {data.object_shape[0]}x{data.object_shape[1]}"
    )
    emit(ok=True, data=summary, as_json=as_json, text=text)


def _pixel_size(given: float | None, data) -> float | None:
    if given is not None:
        return given
    return None if data is None else (data.metadata or {}).get("sample_pixel_size_m")


def export_command(
    recon: Annotated[Path, typer.Argument(help="Reconstruction directory (reconstruct --out).")],
    product: Annotated[
        Path, typer.Option("--product", help="Product file to write: .h5/.hdf5 or .npz.")
    ],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The NPZ reconstructed (default: the one recon.json names)."),
    ] = None,
    pixel_size: Annotated[
        float | None,
        typer.Option("--pixel-size", help="Sample pixel, metres (default: the data's metadata)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Product name.")] = "ptycho-nl",
    as_json: JsonFlag = False,
) -> None:
    """Write a reconstruction as a ptychodus product (probe, object, positions in metres, the
    error per iteration) so it opens in ptychodus."""
    from ptycho_nl.errors import PtychoError

    with reporting(as_json, failures=(PtychoError,)):
        from ptycho_nl.data.npz import load_npz
        from ptycho_nl.data.product import ProductContent, write_product
        from ptycho_nl.recon.result import load_recon

        record, arrays = load_recon(recon)
        scan = load_npz(data if data is not None else record.source_data, mmap=True)
        pixel = _pixel_size(pixel_size, scan)
        if pixel is None:
            raise CommandError(
                f"{recon}: the sample pixel size is unknown (no sample_pixel_size_m in the data's "
                "metadata): give --pixel-size METRES"
            )
        meta = scan.metadata.get("product", {}) if scan.metadata else {}
        content = ProductContent(
            object=arrays["object"], probe=arrays["probe"], positions=scan.positions,
            pixel_size_m=pixel, losses=list(record.errors), name=name,
            comments=f"ptycho-nl {record.method}, {record.iterations} iterations",
            energy_ev=float(meta.get("probe_energy_eV", 0.0)),
            distance_m=float(meta.get("detector_object_distance_m", 0.0)),
        )  # fmt: skip
        write_product(product, content)
    summary = {"product": str(product), "pixel_size_m": pixel, "n_positions": scan.n_patterns}
    emit(
        ok=True, data=summary, as_json=as_json, text=f"wrote {product}: {scan.n_patterns} positions"
    )


def _inspect_plot(report, mask: Any, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ptycho_nl.evaluate.figures import save_png

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(report.counts_per_pattern)
    axes[0].set_xlabel("pattern")
    axes[0].set_ylabel("counts")
    axes[0].set_title("counts per pattern")
    axes[1].imshow(~np.asarray(mask), cmap="Reds")
    axes[1].set_title(f"suggested mask: {report.masked_fraction:.2%} excluded (red)")
    com = np.asarray(report.centre_of_mass).reshape(-1, 2)
    axes[2].plot(com[:, 1], com[:, 0], ".", ms=3)
    axes[2].set_xlabel("col offset (px)")
    axes[2].set_ylabel("row offset (px)")
    axes[2].set_title(f"centre of mass, drift {report.com_drift_px:.2f} px")
    return [str(save_png(fig, out / "inspect.png"))]


def inspect_command(
    data: Annotated[Path, typer.Argument(help="Contract NPZ (e.g. written by import).")],
    saturation: Annotated[
        float | None, typer.Option("--saturation", help="Counts at or above this are saturated.")
    ] = None,
    hot_factor: Annotated[
        float | None,
        typer.Option("--hot-factor", help="Hot: mean counts > this x the 3x3 median (25)."),
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Directory for inspect.png.")] = None,
    write_mask: Annotated[
        Path | None,
        typer.Option("--write-mask", help="Write a copy of DATA carrying the suggested mask."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print (and plot) the data's statistics: counts per pattern, saturation, hot and dead
    pixels, centre-of-mass drift, and a suggested detector mask."""
    from ptycho_nl.errors import PtychoError

    with reporting(as_json, failures=(PtychoError,)):
        import dataclasses

        from ptycho_nl.data.detector import inspect_detector
        from ptycho_nl.data.npz import load_npz, save_npz

        scan = load_npz(data, mmap=True)
        given = {} if hot_factor is None else {"hot_factor": hot_factor}
        report, mask = inspect_detector(scan, saturation=saturation, **given)
        figures = _inspect_plot(report, mask, plot) if plot is not None else []
        if write_mask is not None:
            save_npz(dataclasses.replace(scan, mask=mask), write_mask)
    summary = {**report.model_dump(mode="json"), "figures": figures}
    if write_mask is not None:
        summary["written"] = str(write_mask)
    text = (
        f"{data}: {report.n_patterns} patterns, counts {report.counts_min:.4g} / "
        f"{report.counts_median:.4g} / {report.counts_max:.4g} (min / median / max); "
        f"{len(report.hot_pixels)} hot, {len(report.dead_pixels)} dead, "
        f"{len(report.saturated_pixels)} saturated pixels; ceiling {report.ceiling_counts:.4g} "
        f"counts in {report.patterns_at_ceiling} patterns; COM drift {report.com_drift_px:.2f} px; "
        f"suggested mask excludes {report.masked_fraction:.2%}"
    )
    emit(ok=True, data=summary, as_json=as_json, text=text)


def resolution_command(
    a: Annotated[Path, typer.Argument(help="First reconstruction directory.")],
    b: Annotated[Path, typer.Argument(help="Second reconstruction directory (same frame).")],
    pixel_size: Annotated[
        float | None,
        typer.Option("--pixel-size", help="Sample pixel, metres (default: A's data metadata)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for resolution.json and frc.png.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """FRC resolution of two independent reconstructions (e.g. halves of a scan): registered
    sub-pixel, phase-referenced, 1/2-bit threshold, in pixels and metres."""
    from ptycho_nl.errors import PtychoError

    with reporting(as_json, failures=(PtychoError, ValueError)):
        import numpy as np

        from ptycho_nl.data.npz import load_npz
        from ptycho_nl.evaluate.quality_figures import frc_figure
        from ptycho_nl.evaluate.resolution import resolution
        from ptycho_nl.io_utils import atomic_write_text
        from ptycho_nl.recon.result import load_recon

        rec_a, arr_a = load_recon(a)
        _, arr_b = load_recon(b)
        if arr_a["object"].shape != arr_b["object"].shape:
            raise CommandError(
                f"{b}: object.npy: expected shape {arr_a['object'].shape} (as {a}), found "
                f"{arr_b['object'].shape}",
                exit_code=1,
            )
        pixel = pixel_size
        if pixel is None and Path(rec_a.source_data).is_file():
            pixel = _pixel_size(None, load_npz(rec_a.source_data, mmap=True))
        both = np.minimum(arr_a["coverage"], arr_b["coverage"])
        region = both >= 0.5 * float(both.max())
        record = resolution(arr_a["object"], arr_b["object"], region, pixel_size_m=pixel)
        if out is not None:
            atomic_write_text(
                Path(out) / "resolution.json", record.model_dump_json(indent=2) + "\n"
            )
            frc_figure(record, Path(out) / "frc.png")
    summary = {
        k: v
        for k, v in record.model_dump(mode="json").items()
        if k not in ("freqs", "curve", "threshold")
    }
    metres = f" = {record.resolution_m:.3g} m" if record.resolution_m is not None else ""
    text = f"FRC 1/2-bit resolution {record.resolution_px:.2f} px{metres}" + (
        " (Nyquist-limited)" if record.nyquist_limited else ""
    )
    emit(ok=True, data=summary, as_json=as_json, text=text)


def register(app: typer.Typer) -> None:
    """Add `import`, `export`, `inspect` and `resolution` to the `ptycho-nl` app."""
    app.command("import")(import_command)
    app.command("export")(export_command)
    app.command("inspect")(inspect_command)
    app.command("resolution")(resolution_command)
