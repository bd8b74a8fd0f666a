"""The library's domain exceptions: the CLI turns these into one-line messages and exit codes."""

from __future__ import annotations


class PtychoError(Exception):
    """Base class for every error the library raises on bad input or a failed job."""


class ContractError(PtychoError):
    """A data file violates `specs/data_contracts.md`.

    Carries one message per problem so a validator can list them all at once.
    """

    def __init__(self, path: str, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) if self.problems else f"{path}: invalid")


class BundleError(PtychoError):
    """A model bundle is missing, corrupted, or does not match its recorded SHA-256."""


class ConfigError(PtychoError):
    """A configuration or study design is invalid."""
