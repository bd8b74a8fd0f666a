"""Suite-wide settings, applied before any test module imports torch."""

import os

# Idle OpenMP threads sleep instead of spinning: with pytest-xdist on 2 cores, spinning threads
# of one worker starve the other and a single solver iteration can take 200x longer.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
