"""`ptycho-nl pretrained list | verify | make`: the bundles shipped with the package.

Exit codes (tools.common.output): 0 ok, 1 a bundle failed its hash check or its recipe failed,
2 usage (an unknown name). With --json the `data` of the envelope is the index entries, the
checks, or the new entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting

pretrained_app = typer.Typer(
    help="Networks trained longer than the demo can afford, shipped with the package.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="The directory holding index.json and the bundles (default: the package's)."
    ),
]


def _directory(directory: Path | None) -> Path:
    from ptycho_nl.pretrained.index import PACKAGE_DIR

    return PACKAGE_DIR if directory is None else directory


@pretrained_app.command("list")
def list_bundles(directory: DirOpt = None, as_json: JsonFlag = False) -> None:
    """The shipped bundles: what each was trained on, for how long, and its held-out scores."""
    from ptycho_nl.pretrained.index import load_index

    with reporting(as_json):
        index = load_index(_directory(directory))
    lines = [
        f"{e.name}: {e.model}, dose {e.data.dose:g}, view {e.data.view}, {e.epochs_trained} "
        f"epochs ({e.training_seconds / 60:.0f} min), held-out NRMSE {e.metrics.nrmse:.3f} / "
        f"phase SSIM {e.metrics.phase_ssim:.3f}, {e.size_bytes / 1e6:.1f} MB, {e.file}"
        for e in index.bundles.values()
    ]
    data = {name: e.model_dump(mode="json") for name, e in index.bundles.items()}
    emit(ok=True, data=data, as_json=as_json, text="\n".join(lines) or "no pretrained bundles")


@pretrained_app.command("verify")
def verify(
    name: Annotated[str | None, typer.Argument(help="One bundle (default: every one).")] = None,
    directory: DirOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Check each bundle's SHA-256 against the index and rebuild its network from it."""
    from ptycho_nl.errors import BundleError
    from ptycho_nl.pretrained.index import load_index, load_pretrained

    where = _directory(directory)
    with reporting(as_json):
        index = load_index(where)
        if name is not None and name not in index.bundles:
            known = ", ".join(sorted(index.bundles)) or "none"
            raise CommandError(f"no pretrained bundle {name!r} (shipped: {known})")
    checks = {}
    for entry in index.bundles.values():
        if name is not None and entry.name != name:
            continue
        try:
            load_pretrained(entry.name, where)
            checks[entry.name] = None
        except BundleError as exc:
            checks[entry.name] = str(exc)
    failed = {k: v for k, v in checks.items() if v is not None}
    text = "\n".join(f"{k}: {'ok' if v is None else v}" for k, v in checks.items())
    error = f"{len(failed)} bundle(s) failed: {', '.join(failed)}" if failed else None
    emit(ok=not failed, data=checks, error=error, as_json=as_json, text=text or "no bundles")


@pretrained_app.command("make")
def make(
    name: Annotated[str, typer.Argument(help="The bundle to (re)make, e.g. demo-pinn-d1e5-dense.")],
    work: Annotated[
        Path, typer.Option("--work", help="Study directory for the training run (kept).")
    ] = Path("pretrain_out"),
    directory: DirOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a bundle by its recipe and record it in the index (minutes to tens of minutes).

    The recipe is a one-cell study of a preset with more epochs (`pretrained/make.py`). The
    bundle is written beside the index with its SHA-256, the study's held-out metrics and how it
    was made. Run it with OMP_NUM_THREADS=1 to train as a demo job does, on one core.
    """
    from ptycho_nl.errors import PtychoError
    from ptycho_nl.pretrained.make import RECIPES, make_pretrained, recipe_for

    with reporting(as_json, failures=(PtychoError,)):
        if name not in RECIPES:
            raise CommandError(f"no recipe for {name!r}; choose from {', '.join(RECIPES)}")
        entry = make_pretrained(
            name, recipe_for(name), work, directory=_directory(directory), progress=not as_json
        )
    text = (
        f"{entry.name}: {entry.file} sha256 {entry.sha256}, {entry.epochs_trained} epochs, "
        f"held-out NRMSE {entry.metrics.nrmse:.3f} / phase SSIM {entry.metrics.phase_ssim:.3f}"
    )
    emit(ok=True, data=entry.model_dump(mode="json"), as_json=as_json, text=text)


def register(app: typer.Typer) -> None:
    app.add_typer(pretrained_app, name="pretrained")
