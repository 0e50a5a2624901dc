"""Findings of the release lint and the report that collects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def rel(path: Path, root: Path) -> str:
    """``path`` relative to the release directory ``root`` (as given when outside it)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem: the file it is about (relative to the release) and what is wrong."""

    path: str
    message: str
    severity: str = "error"  # "error" fails the lint; "note" is printed only

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (" (note)" if self.severity == "note" else "")


@dataclass(slots=True)
class LintReport:
    """All findings, and what was looked at (for the summary line)."""

    findings: list[Finding] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    combinations: list[str] = field(default_factory=list)
    renders: int = 0

    @property
    def errors(self) -> list[Finding]:
        """The findings that fail the lint, sorted and without duplicates."""
        return sorted({f for f in self.findings if f.severity == "error"})

    @property
    def notes(self) -> list[Finding]:
        """The findings that are only printed."""
        return sorted({f for f in self.findings if f.severity == "note"})

    def summary(self) -> str:
        """One line: what was checked and how many errors."""
        return (f"{len(self.jobs)} jobs ({', '.join(self.jobs) or 'none'}), {len(self.packages)} packages, "
                f"{len(self.combinations)} manifest combinations, {self.renders} job renders: "
                f"{len(self.errors)} errors, {len(self.notes)} notes")
