"""Pydantic models of `attempt.json`, the one record an attempt hub is rendered from.

`specs/attempt_reports.md` documents every field in a table per model; a test compares the two.
Times are ISO-8601 UTC strings from the tool's clock (`tools.common.fsutil.iso_utc`); paths are POSIX
strings relative to the hub (logs, artifacts) or to the repository root (`hub`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from tools.common.vocabulary import AttemptStatus, Mode, OutcomeSource, RunKind

# 2: evidence binding (interpreter, tree hash, probe, JUnit-only counts) and the record seal.
SCHEMA_VERSION = 2
SEAL_FIELD = "record_sha256"


class Record(BaseModel):
    """Strict base: unknown fields in a record on disk are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class GitFacts(Record):
    """The repository state a run was captured against."""

    sha: str | None = None
    branch: str | None = None
    dirty: bool = False
    dirty_paths: list[str] = Field(default_factory=list)
    tree: str | None = None


class InterpreterFacts(Record):
    """The Python that ran pytest, as reported from inside that pytest by the tool's probe plugin."""

    resolved: str
    executable: str
    prefix: str
    python: str
    pytest: str


class EnvFacts(Record):
    """Interpreter and library versions (torch is read without importing it)."""

    python: str
    platform: str
    torch: str | None = None
    cuda: str | None = None


class PytestFailure(Record):
    """One failing or erroring test: node id, exception type and the one-line message."""

    node_id: str
    exception: str | None = None
    message: str = ""
    assertion: bool = False


class PytestOutcome(Record):
    """Counts parsed from JUnit XML (preferred) or the terminal summary line (fallback)."""

    source: OutcomeSource = "none"
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    deselected: int = 0
    collected: int | None = None
    duration_s: float | None = None
    failures: list[PytestFailure] = Field(default_factory=list)
    errored: list[PytestFailure] = Field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.xfailed + self.xpassed

    @property
    def assertion_failures(self) -> int:
        return sum(1 for failure in self.failures if failure.assertion)


class RunRecord(Record):
    """One command the tool ran and captured (`tools attempt run red|green|cli`)."""

    sequence: int
    kind: RunKind
    name: str
    argv: list[str]
    command: list[str] = Field(default_factory=list)
    shell: bool = False
    cwd: str
    started_at: str
    finished_at: str
    duration_s: float
    cpu_s: float | None = Field(
        None,
        description="CPU seconds of the command and the children it waited for.",
        # Left out when unknown, so records sealed before the field existed still verify.
        exclude_if=lambda value: value is None,
    )
    exit_code: int
    signal: int | None = None
    interrupted: bool = False
    log: str
    log_sha256: str
    log_bytes: int
    junit: str | None = None
    junit_sha256: str | None = None
    probe: str | None = None
    probe_sha256: str | None = None
    interpreter: InterpreterFacts | None = None
    git: GitFacts
    env: EnvFacts
    pytest: PytestOutcome | None = None
    expected_exit: int | None = None
    valid: bool
    verdict: str


class CollectionRecord(Record):
    """A collection proof (`tools attempt collect`): the node ids a selector collects."""

    sequence: int
    name: str
    argv: list[str]
    command: list[str] = Field(default_factory=list)
    cwd: str
    started_at: str
    finished_at: str
    duration_s: float
    cpu_s: float | None = Field(
        None,
        description="CPU seconds of the command and the children it waited for.",
        # Left out when unknown, so records sealed before the field existed still verify.
        exclude_if=lambda value: value is None,
    )
    exit_code: int
    interrupted: bool = False
    log: str
    log_sha256: str
    log_bytes: int
    junit: str | None = None
    junit_sha256: str | None = None
    probe: str | None = None
    probe_sha256: str | None = None
    interpreter: InterpreterFacts | None = None
    git: GitFacts | None = None
    node_ids: list[str] = Field(default_factory=list)
    count: int
    valid: bool
    verdict: str


class ArtifactRecord(Record):
    """A file copied into `data/` or `analysis/` with its size and SHA-256."""

    path: str
    source: str
    size: int
    sha256: str
    added_at: str


class Blocker(Record):
    """Why the attempt is stuck: error signature, root cause, candidate fixes."""

    signature: str
    root_cause: str
    fixes: list[str]
    evidence: str | None = None
    recorded_at: str


class AttemptRecord(Record):
    """The whole attempt: `plans/active/<ID>/reports/<UTC>/<slug>/attempt.json`."""

    schema_version: int = SCHEMA_VERSION
    item_id: str
    number: int
    slug: str
    focus: str
    mode: Mode
    status: AttemptStatus = "open"
    hub: str
    started_at: str
    finished_at: str | None = None
    next: str | None = None
    blocker: Blocker | None = None
    runs: list[RunRecord] = Field(default_factory=list)
    collections: list[CollectionRecord] = Field(default_factory=list)
    artifacts: list[ArtifactRecord] = Field(default_factory=list)
    ledger_appended: bool = False
    previous_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _continue_chain(cls, data: Any) -> Any:
        """A record read back continues from the state it was read from: the seal on disk becomes
        `previous_sha256`, so the next save links to it (the chain, specs/attempt_reports.md)."""
        if isinstance(data, dict) and SEAL_FIELD in data:
            data = dict(data)
            data["previous_sha256"] = data.pop(SEAL_FIELD)
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def record_sha256(self) -> str:
        """The seal: SHA-256 of every other field (previous_sha256 included) as saved."""
        body = self.model_dump_json(exclude={SEAL_FIELD})
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def next_sequence(self) -> int:
        """Runs and collections share one sequence so 'RED before GREEN' is well defined."""
        return 1 + len(self.runs) + len(self.collections)
