"""The session-report tests reuse the budget tests' repository and jobs (`budget_repo`): its
directory goes on sys.path here, as tests/ptycho_nl/conftest.py does for the scan builders."""

import sys
from pathlib import Path

BUDGET_TESTS = str(Path(__file__).parent.parent / "budget")
if BUDGET_TESTS not in sys.path:
    sys.path.insert(0, BUDGET_TESTS)
