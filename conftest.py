"""Suite-wide settings, applied before any test module imports torch."""

import os

# Idle OpenMP threads sleep instead of spinning: with pytest-xdist on 2 cores, spinning threads
# of one worker starve the other and a single solver iteration can take 200x longer.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The suite is hermetic: an agent running it under `tools attempt run` (which exports
# TOOLS_ATTEMPT to its child) or with its own TOOLS_AGENT must not steer the tests' tools.
for _name in ("TOOLS_AGENT", "TOOLS_ATTEMPT", "TOOLS_LEDGER", "TOOLS_ROOT"):
    os.environ.pop(_name, None)


def pytest_collection_modifyitems(config, items):
    """Slow end-to-end tests first: xdist deals its first tests to the workers one at a time in
    turn, so the slow ones start on different workers instead of queueing on one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
