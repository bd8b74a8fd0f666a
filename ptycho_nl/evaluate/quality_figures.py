"""Figures of a reconstruction judged without ground truth: object amplitude and phase, the
probe, the error curve, the per-pattern data fit over the scan, and the half-split FRC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptycho_nl.evaluate.figures import save_png


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frc_figure(record, path: Path) -> Path:
    """The half-split FRC with its 1/2-bit threshold and the resolution in the title."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(record.freqs, record.curve, label="FRC (half A vs half B)")
    ax.plot(record.freqs, record.threshold, "--", label="1/2-bit threshold")
    title = f"resolution {record.resolution_px:.2f} px"
    if record.resolution_m is not None:
        title += f" = {record.resolution_m * 1e9:.1f} nm"
    ax.set_title(title + (" (Nyquist-limited)" if record.nyquist_limited else ""))
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("correlation")
    ax.set_ylim(-0.1, 1.05)
    ax.legend()
    return save_png(fig, path)


def quality_figures(
    obj: np.ndarray,
    probe: np.ndarray,
    errors: list[float],
    positions: np.ndarray,
    fit,
    out_dir: str | Path,
) -> list[Path]:
    """object.png (amplitude, phase), probe.png, errors.png, datafit.png (the per-pattern
    R-factor and Poisson deviance at the scan positions). positions : (n, 2) (row, col)."""
    plt = _plt()
    out = Path(out_dir)
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, img, title, cmap in zip(
        axes, (np.abs(obj), np.angle(obj)), ("amplitude", "phase (rad)"), ("gray", "twilight"),
        strict=True,
    ):  # fmt: skip
        im = ax.imshow(img, cmap=cmap)
        ax.set_title(f"object {title}")
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    paths.append(save_png(fig, out / "object.png"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, img, title in zip(
        axes, (np.abs(probe), np.angle(probe)), ("|P|", "arg P"), strict=True
    ):
        im = ax.imshow(img, cmap="magma" if title == "|P|" else "twilight")
        ax.set_title(f"probe {title} (power {float(np.square(np.abs(probe)).sum()):.3g})")
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    paths.append(save_png(fig, out / "probe.png"))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(np.arange(1, len(errors) + 1), np.maximum(errors, 1e-30))
    ax.set_xlabel("iteration")
    ax.set_ylabel("normalised Fourier error")
    ax.set_title("error curve")
    paths.append(save_png(fig, out / "errors.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, values, title in zip(
        axes, (fit.r_factor, fit.deviance), ("R-factor", "Poisson deviance / pixel"), strict=True
    ):
        sc = ax.scatter(positions[:, 1], positions[:, 0], c=values, cmap="viridis", s=25)
        ax.invert_yaxis()
        ax.set_aspect("equal")
        ax.set_title(f"{title} per pattern (mean {np.mean(values):.3g})")
        fig.colorbar(sc, ax=ax, fraction=0.046)
    paths.append(save_png(fig, out / "datafit.png"))
    return paths


def modes_figure(modes: np.ndarray, path: Path) -> Path:
    """probe_modes.png: each incoherent mode's amplitude with its share of the total power."""
    plt = _plt()
    modes = np.asarray(modes)
    powers = np.square(np.abs(modes)).sum(axis=(-2, -1))
    shares = powers / max(float(powers.sum()), 1e-30)
    fig, axes = plt.subplots(1, len(modes), figsize=(3.2 * len(modes), 3.2), squeeze=False)
    for k, (ax, mode) in enumerate(zip(axes[0], modes, strict=True)):
        ax.imshow(np.abs(mode), cmap="magma")
        ax.set_title(f"mode {k}: {100 * shares[k]:.1f}% of the power")
        ax.axis("off")
    return save_png(fig, path)


def positions_figure(given: np.ndarray, refined: np.ndarray, path: Path) -> Path:
    """positions.png: the refined scan positions as arrows from the given ones (row, col),
    drawn to scale, with the RMS shift in the title."""
    plt = _plt()
    given, refined = np.asarray(given, float), np.asarray(refined, float)
    shift = refined - given
    rms = float(np.sqrt(np.mean(np.sum(shift**2, axis=1))))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.quiver(
        given[:, 1], given[:, 0], shift[:, 1], shift[:, 0],
        angles="xy", scale_units="xy", scale=1.0, color="tab:red", width=0.004,
    )  # fmt: skip
    ax.scatter(given[:, 1], given[:, 0], s=4, c="k")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(f"refined positions (RMS shift {rms:.2f} px, arrows to scale)")
    return save_png(fig, path)
