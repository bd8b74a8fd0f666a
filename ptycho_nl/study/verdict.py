"""The report's opening verdict: one sentence per (dose, view) cell, computed, never typed.

Each sentence names the method with the lowest NRMSE on the held-out region, what the paired
per-tile comparison on NRMSE says of it against the runner-up (the comparisons' own verdict:
"better" only with a clear interval and an adjusted p below 0.05), the constant floor when the
best method does not beat it, and, from the quality traces, how long the fastest method took to
reach the best iterative NRMSE of the cell against the iterative solver that set it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ptycho_nl.study.compare import FLOOR


def _pair_verdict(comparisons: list[dict], cell: tuple, a: str, b: str) -> str:
    for c in comparisons:
        same_cell = (c["dose"], c["view"]) == cell and c["metric"] == "nrmse"
        if same_cell and {c["method_a"], c["method_b"]} == {a, b}:
            return c["verdict"]
    return "not compared"


def _speed_clause(ttq: list[dict], cell: tuple) -> str | None:
    rows = [r for r in ttq if (r["dose"], r["view"]) == cell and r["target_nrmse"] is not None]
    setter = [r for r in rows if r["final_nrmse"] == r["target_nrmse"]]
    reached = [r for r in rows if r["seconds_to_target"] is not None]
    if not setter or not reached:
        return None
    fastest = min(reached, key=lambda r: r["seconds_to_target"])
    reference = setter[0]
    if fastest["method"] == reference["method"]:
        return (
            f"no method reached {reference['method']}'s NRMSE "
            f"{reference['target_nrmse']:.3f} sooner than it did "
            f"({reference['seconds_to_target']:.2f} s)"
        )
    share = fastest["seconds_to_target"] / max(reference["seconds_to_target"], 1e-9)
    return (
        f"{fastest['method']} reached {reference['method']}'s NRMSE "
        f"{reference['target_nrmse']:.3f} in {fastest['seconds_to_target']:.2f} s, "
        f"{100 * share:.0f}% of {reference['method']}'s {reference['seconds_to_target']:.2f} s"
    )


def verdict_lines(
    rows: list[dict[str, Any]], comparisons: list[dict], ttq: list[dict[str, Any]]
) -> list[str]:
    """One sentence per cell, in (view, dose) order."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("nrmse") is not None:
            cells[(r["dose"], r["view"])].append(r)
    lines = []
    for cell in sorted(cells, key=lambda c: (c[1], c[0])):
        ranked = sorted(cells[cell], key=lambda r: r["nrmse"])
        methods = [r for r in ranked if r["method"] != FLOOR]
        if not methods:
            continue
        best = methods[0]
        text = f"dose {cell[0]:.0e}, {cell[1]} view: lowest NRMSE {best['method']} ({best['nrmse']:.3f})"
        if len(methods) > 1:
            second = methods[1]
            verdict = _pair_verdict(comparisons, cell, best["method"], second["method"])
            text += f"; against {second['method']} ({second['nrmse']:.3f}): {verdict}"
        floor = next((r for r in ranked if r["method"] == FLOOR), None)
        if floor is not None and floor["nrmse"] <= best["nrmse"]:
            text += f"; no method beats the constant floor ({floor['nrmse']:.3f})"
        if (speed := _speed_clause(ttq, cell)) is not None:
            text += f"; {speed}"
        lines.append(text + ".")
    return lines
