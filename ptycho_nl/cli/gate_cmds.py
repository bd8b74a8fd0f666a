"""`ptycho-nl report baseline RUN_DIR` and `ptycho-nl trace-memory`: the library halves of the
gates (specs/gates.md). Exit 0 ok, 1 a failed check (or a run directory that is not one),
2 usage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tools.common.output import CommandError, JsonFlag, emit, reporting

GateFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--gate", help="Post-training gate TOML behind the decision (default specs/gates/)."
    ),
]


def baseline(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    gate_file: GateFileOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Write baseline_results.md (+ .html, learning_curves.png) into a run directory: config,
    final metrics, training profile, checkpoints, learning curves and a decision."""
    with reporting(as_json):
        from ptycho_nl.errors import PtychoError
        from ptycho_nl.gates.baseline import write_baseline_report
        from ptycho_nl.gates.definitions import load_definition
        from ptycho_nl.gates.post_training import CHECKS

        try:
            definition = load_definition(gate_file, CHECKS) if gate_file else None
            context = write_baseline_report(run_dir, definition)
        except PtychoError as exc:
            raise CommandError(str(exc), exit_code=1) from None
        written = context["written"]
        emit(
            ok=True,
            data={
                "decision": context["decision"],
                "rule": context["rule"],
                "final": context["final"],
                "written": written,
            },
            as_json=as_json,
            text=f"decision: {context['decision']} ({context['rule']})\n"
            f"report: {written['markdown']}\n        {written['html']}",
        )


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f}"


def trace_memory_cmd(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registered model name (default: every trainable one)."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch of the step.")] = 32,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    budget_gb: Annotated[
        float, typer.Option("--budget-gb", min=0.001, help="Memory budget, GiB.")
    ] = 24.0,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data file for the model's task (default: the tiny preset)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Peak memory of one forward+backward+optimiser step (CUDA: max_memory_allocated; CPU:
    saved tensors + parameters + gradients + optimiser state) and the largest batch within the
    budget (bisection). Exit 1 when the step at --batch-size exceeds the budget."""
    with reporting(as_json):
        if device not in ("cpu", "cuda"):
            raise CommandError(f"--device: expected cpu or cuda, found {device!r}")
        from ptycho_nl.errors import PtychoError
        from ptycho_nl.gates.memory import trace_all, trace_memory

        kwargs = {"device": device, "budget_gb": budget_gb, "data_path": data}
        skipped: dict[str, str] = {}
        try:
            if model:
                traces = [trace_memory(model, batch_size, **kwargs)]
            else:
                traces, skipped = trace_all(batch_size, **kwargs)
        except PtychoError as exc:
            raise CommandError(str(exc), exit_code=1) from None
        head = "model       device  batch  params_MB  grads_MB  optim_MB  activ_MB  peak_MB  fits  max_batch"
        rows = [
            f"{t.model:<11} {t.device:<7} {t.step.batch_size:>5}  {_mb(t.step.parameters):>9}  "
            f"{_mb(t.step.gradients):>8}  {_mb(t.step.optimizer_state):>8}  "
            f"{_mb(t.step.activations):>8}  {_mb(t.step.peak):>7}  {'yes' if t.fits else 'NO':>4}  "
            f"{t.max_batch:>9}"
            for t in traces
        ]
        rows += [f"{name:<11} not traced: {why}" for name, why in skipped.items()]
        over = [t.model for t in traces if not t.fits]
        method = traces[0].method if traces else "nothing traced"
        emit(
            ok=bool(traces) and not over,
            data={"traces": [t.model_dump() for t in traces], "skipped": skipped},
            error=f"over the {budget_gb:g} GiB budget: {', '.join(over)}" if over else None,
            as_json=as_json,
            text="\n".join([head, *rows, f"budget {budget_gb:g} GiB ({method})"]),
        )


def register(app: typer.Typer) -> None:
    """Add `trace-memory` to the `ptycho-nl` app (`report baseline` joins `report_cmds`)."""
    app.command("trace-memory")(trace_memory_cmd)
