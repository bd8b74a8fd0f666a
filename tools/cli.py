"""The `tools` command: a Typer app whose verbs live in one `cli` module per subpackage.

Start-up cost matters (agents call it hundreds of times), so this module imports only Typer and
the verb modules, which in turn import their heavy dependencies inside the commands. A verb
module that fails to import is an error here, never a silently missing command group.
"""

from __future__ import annotations

import signal

import typer

from tools import verify_cli
from tools.attempt import cli as attempt_cli
from tools.budget import cli as budget_cli
from tools.common import root_options
from tools.common.output import EnvelopeGroup
from tools.gates import cli as gates_cli
from tools.plan import cli as plan_cli
from tools.report import cli as report_cli
from tools.specs import cli as specs_cli

app = typer.Typer(
    name="tools",
    cls=EnvelopeGroup,
    help="Evidence tooling for agent-driven development: attempts, ledger, plans, specs, gates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# `tools --ledger PATH <verb>`: the options every verb honours (tools/common/root_options.py).
app.callback()(root_options.root_callback)

# Registration order is the order in --help.
for module in (attempt_cli, plan_cli, specs_cli, gates_cli, verify_cli, budget_cli, report_cli):
    module.register(app)


def main() -> None:
    # A process started with SIGINT ignored (a non-interactive shell's `cmd &` does that)
    # would keep it ignored, Ctrl-C included, until a run installs its own handler: `tools`
    # is always interruptible (docs/tools.md), so start from Python's default handler.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    app()


if __name__ == "__main__":
    main()
