"""PNG figures of an evaluation: amplitude, phase, difference and FRC curve (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptycho_nl.io_utils import atomic_write


def save_png(fig, path: Path, *, dpi: int = 100) -> Path:
    """Write `fig` as a PNG atomically (a crash never leaves half an image), then close it."""
    import matplotlib.pyplot as plt

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight")

    atomic_write(path, write)
    plt.close(fig)
    return path


def save_figures(
    recon: np.ndarray, truth: np.ndarray, metrics: dict[str, Any], out_dir: str | Path
) -> list[Path]:
    """Write amplitude.png, phase.png, difference.png and frc.png into `out_dir`.

    recon, truth : (h, w) complex, already aligned and cropped to the scored region
    metrics      : the dict of `compute_metrics` (its "frc" entry is plotted)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    paths = []
    for name, fn, cmap in (("amplitude", np.abs, "gray"), ("phase", np.angle, "twilight")):
        fig, axes = plt.subplots(1, 2, figsize=(8, 4))
        for ax, img, title in zip(
            axes, (fn(recon), fn(truth)), ("reconstruction", "truth"), strict=True
        ):
            im = ax.imshow(img, cmap=cmap)
            ax.set_title(f"{name}: {title}")
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
        paths.append(save_png(fig, out / f"{name}.png"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    diffs = (np.abs(recon) - np.abs(truth), np.angle(recon * np.conj(truth)))
    for ax, img, title in zip(
        axes, diffs, ("amplitude difference", "phase difference (rad)"), strict=True
    ):
        im = ax.imshow(img, cmap="RdBu_r")
        ax.set_title(title)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    paths.append(save_png(fig, out / "difference.png"))
    curve = metrics["frc"]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(curve["freqs"], curve["curve"], label="FRC")
    ax.plot(curve["freqs"], curve["threshold"], "--", label="1/2-bit threshold")
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("correlation")
    ax.set_title(f"FRC: resolution {curve['resolution_px']:.2f} px")
    ax.set_ylim(-0.1, 1.05)
    ax.legend()
    paths.append(save_png(fig, out / "frc.png"))
    return paths
