"""What grading a submission produces: an :class:`Outcome` for each exercise, gathered in a :class:`Report`
(:mod:`gengen_lib.grading` makes them, :mod:`gengen_lib.grading_feedback` shows them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .exercises import GradedExercise


@dataclass
class Outcome:
    """One exercise of one submission: passed or not, and the one line that says why."""

    exercise: GradedExercise
    passed: bool
    detail: str

    @property
    def points(self) -> int:
        return self.exercise.points if self.passed else 0


@dataclass
class Report:
    """One submission's grade: its file name, each exercise's outcome, notes (cells skipped, a refusal)."""

    file: str
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    refused: str | None = None  # why the file could not be graded at all

    @property
    def total(self) -> int:
        return sum(o.points for o in self.outcomes)
