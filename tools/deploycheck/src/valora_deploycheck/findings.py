"""A check's result: ``error`` fails the check; ``gap`` is something the code lacks (reported,
for the service owners), and ``pending`` is a deployment entry whose code has not landed yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "errors", "format_findings"]

Severity = Literal["error", "gap", "pending"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.where}: {self.message}"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def format_findings(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings) or "no findings"
