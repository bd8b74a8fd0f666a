"""`baseline_results.md` (+ `.html`, `learning_curves.png`): the baseline report of a run.

Built from the run directory alone: the configuration, the final metrics, the training profile
(durations, GPU statistics or why absent), the checkpoints with sizes and hashes, the learning
curves, and a decision (deploy / optimise / fix) from the post-training gate's results and the
quality metric, with the rule that produced it (specs/gates.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptycho_nl.gates.model import GateDefinition, GateError, GateReport
from ptycho_nl.gates.post_training import post_training_gate
from ptycho_nl.gates.post_training_files import BASELINE_NAME, REPORT_SECTIONS
from ptycho_nl.gates.run_files import RunFiles, finite
from ptycho_nl.io_utils import atomic_write_text, sha256_file

OPTIMISE_BELOW = 0.5  # val_improvement below this: the model works but is not good enough yet
HTML_NAME = "baseline_results.html"
CURVES_NAME = "learning_curves.png"
# the report's own items: the gate behind the decision runs without them (no circularity)
REPORT_ITEMS = ("baseline_report", "decision_recorded")


@dataclass(frozen=True)
class Decision:
    decision: str  # deploy | optimise | fix
    rule: str


def decide(report: GateReport, val_improvement: float | None) -> Decision:
    """fix > optimise > deploy: the first rule that fires (specs/gates.md)."""
    mandatory = report.failing(mandatory_only=True)
    if mandatory:
        return Decision("fix", f"mandatory gate item(s) not passing: {', '.join(mandatory)}")
    optional = [i.name for i in report.items if not i.mandatory and i.verdict == "fail"]
    if optional:
        return Decision("optimise", f"optional gate item(s) failing: {', '.join(optional)}")
    if val_improvement is None or val_improvement < OPTIMISE_BELOW:
        shown = "unknown" if val_improvement is None else f"{val_improvement:.1%}"
        return Decision(
            "optimise", f"val_improvement {shown} < {OPTIMISE_BELOW:.0%} (quality metric)"
        )
    return Decision(
        "deploy",
        f"every mandatory item passed, no optional item failed, "
        f"val_improvement {val_improvement:.1%} >= {OPTIMISE_BELOW:.0%}",
    )


def _final_metrics(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    vals = [e.get("val_loss") for e in epochs]
    finite_vals = [(v, e["num"]) for v, e in zip(vals, epochs, strict=True) if finite(v)]
    best = min(finite_vals) if finite_vals else (None, None)
    first_val = vals[0] if vals and finite(vals[0]) else None
    improvement = None
    if first_val and best[0] is not None and first_val > 0:
        improvement = (first_val - best[0]) / first_val
    last = epochs[-1] if epochs else {}
    return {
        "epochs_recorded": len(epochs),
        "first_train_loss": epochs[0].get("train_loss") if epochs else None,
        "final_train_loss": last.get("train_loss"),
        "first_val_loss": first_val,
        "final_val_loss": last.get("val_loss"),
        "best_val_loss": best[0],
        "best_epoch": best[1],
        "val_improvement": improvement,
    }


def _gpu_profile(run: RunFiles) -> dict[str, Any]:
    events = [e for _, e in run.events()]
    util = [e["gpu_util_pct"] for e in events if finite(e.get("gpu_util_pct"))]
    mem = [e["gpu_mem_mb"] for e in events if finite(e.get("gpu_mem_mb"))]
    if not util and not mem:
        reasons = [e.get("reason") for e in events if e.get("kind") == "telemetry_unavailable"]
        why = reasons[0] if reasons else "telemetry.log_gpu_stats was off: no GPU fields logged"
        return {"available": False, "reason": why}
    return {
        "available": True,
        "samples": len(util),
        "mean_util_pct": round(sum(util) / len(util), 1) if util else None,
        "max_util_pct": max(util) if util else None,
        "max_mem_mb": max(mem) if mem else None,
    }


def _checkpoints(run: RunFiles) -> list[dict[str, Any]]:
    files = sorted(run.checkpoints.glob("*.pt")) if run.checkpoints.is_dir() else []
    return [
        {"name": p.name, "size_bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files
    ]


def _plot_curves(epochs: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ptycho_nl.io_utils import atomic_write

    nums = [e.get("num") for e in epochs]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in ("train_loss", "val_loss"):
        ax.plot(
            nums,
            [e.get(key) if finite(e.get(key)) else float("nan") for e in epochs],
            marker="o",
            label=key,
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png", dpi=90, bbox_inches="tight")

    atomic_write(path, write)
    plt.close(fig)
    return path


def baseline_context(
    run_dir: str | Path, definition: GateDefinition | None = None
) -> dict[str, Any]:
    """Everything the report shows (also the `--json` data of the command).

    definition : the post-training gate behind the decision (default specs/gates/post_training.toml)
    """
    run = RunFiles.open(run_dir)
    config, epochs = run.config(), run.epochs()
    if not epochs:
        raise GateError(f"{run.metrics_path}: key epochs: expected at least one epoch, found none")
    gate = post_training_gate(run.root, definition, skip=REPORT_ITEMS)
    final = _final_metrics(epochs)
    decision = decide(gate, final["val_improvement"])
    manifest = run.manifest() if (run.root / "manifest.json").is_file() else {}
    times = [e.get("duration_s") for e in epochs]
    return {
        "run_dir": str(run.root),
        "sections": REPORT_SECTIONS,
        "config": config,
        "status": manifest.get("status", "unknown"),
        "final": final,
        "profile": {
            "total_s": round(sum(t for t in times if finite(t)), 3),
            "started_utc": manifest.get("started_utc"),
            "finished_utc": manifest.get("finished_utc"),
            "epochs": epochs,
            "gpu": _gpu_profile(run),
        },
        "checkpoints": _checkpoints(run),
        "gate": gate.model_dump(mode="json"),
        "decision": decision.decision,
        "rule": decision.rule,
    }


def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    from ptycho_nl.gates.render import cell

    env = Environment(
        loader=PackageLoader("ptycho_nl.gates", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell
    env.filters["num"] = lambda v: "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
    return env


def write_baseline_report(
    run_dir: str | Path, definition: GateDefinition | None = None
) -> dict[str, Any]:
    """Write baseline_results.md, baseline_results.html and learning_curves.png into the run."""
    context = baseline_context(run_dir, definition)
    root = Path(context["run_dir"])
    png = _plot_curves(context["profile"]["epochs"], root / CURVES_NAME)
    env = _env()
    md = atomic_write_text(
        root / BASELINE_NAME,
        env.get_template("baseline_results.md.j2").render(**context, curves=CURVES_NAME),
    )
    env.autoescape = True
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    html = atomic_write_text(
        root / HTML_NAME, env.get_template("baseline_results.html.j2").render(**context, curves=uri)
    )
    context["written"] = {"markdown": str(md), "html": str(html), "curves": str(png)}
    return context
