"""Exercises with checkers: write a small piece of each model, then let the library grade it.

Each model family's exercises live in one module, ``exercises_<family>`` (``exercises_vae``,
``exercises_gan``, ``exercises_flows``, ``exercises_flow_matching``), and end in an ``EXERCISES``
record (:class:`~gengen_lib.checking.ExerciseSet`); the family's registry record names that
module (``Family.exercises``), and this module collects them in :data:`SETS`. Two kinds per family:

* short exercises: one function each, ``check_<exercise>(fn)``;
* multi-step exercises: several functions that fit together, each step with its own checker,
  ending in a checker that measures a result (an ELBO reached, nats from an exact
  log-likelihood, a match with autograd's slogdet, a bits/dim value).

Every checker runs the learner's function and the library's reference on the same random
inputs (a fixed seed, so a verdict is reproducible) and returns a
:class:`~gengen_lib.checking.Verdict` shown as ONE line, ``✓ ...`` or
``✗ <exercise>: not yet correct — <diagnosis>`` (see :mod:`gengen_lib.checking` for the
order in which problems are diagnosed). A checker never raises, whatever ``fn`` does.

Every checker is reachable here by its name, ``exercises.check_<exercise>``, as the notebook
calls it. :func:`catalogue` lists them all with their family and points: what the grader grades.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .checking import ExerciseSet, Verdict
from .families import FAMILIES as MODEL_FAMILIES

# Every family's exercises, in the registry's (the book's) order.
SETS: tuple[ExerciseSet, ...] = tuple(
    importlib.import_module(f"{__package__}.{family.exercises}").EXERCISES
    for family in MODEL_FAMILIES.values()
    if family.exercises
)

SHORT_CHECKERS: dict[str, Callable[..., Verdict]] = {k: v for s in SETS for k, v in s.short.items()}
# The steps of the multi-step exercises: each grades one function, like a short exercise.
STEP_CHECKERS: dict[str, Callable[..., Verdict]] = {k: v for s in SETS for k, v in s.steps.items()}
# The measured ends of the multi-step exercises: they take the learner's step functions.
RESULT_CHECKERS: dict[str, Callable[..., Verdict]] = {k: v for s in SETS for k, v in s.results.items()}
# Every one-function checker, in the notebook's order: by family, the short exercises first.
CHECKERS: dict[str, Callable[..., Verdict]] = {k: v for s in SETS for k, v in (s.short | s.steps).items()}
# The one-function exercises of each family, in the notebook's order.
FAMILIES: dict[str, tuple[str, ...]] = {s.family: tuple(s.short | s.steps) for s in SETS}


# What a passed exercise is worth to the grader (``python -m gengen_lib grade``): one point for each
# function a learner writes, two for a multi-step exercise's measured result.
POINTS = {"short": 1, "step": 1, "result": 2}


@dataclass(frozen=True)
class GradedExercise:
    """One gradable exercise: its family and name, its ``kind`` (``short``, ``step`` or ``result``), its
    checker (it returns a Verdict), its :data:`POINTS`, and the learner's functions the checker takes
    (a result's checker takes the steps it runs)."""

    family: str
    name: str
    kind: str
    checker: Callable[..., Verdict]
    points: int
    functions: tuple[str, ...]

    @property
    def is_result(self) -> bool:
        return self.kind == "result"


def catalogue() -> list[GradedExercise]:
    """Every exercise of the course, family by family in the notebook's order (its short exercises,
    the steps of its multi-step ones, then their results): what the grader grades, with the points."""
    return [
        GradedExercise(s.family, name, kind, checker, POINTS[kind], _functions_taken(name, kind, checker))
        for s in SETS
        for kind, checkers in (("short", s.short), ("step", s.steps), ("result", s.results))
        for name, checker in checkers.items()
    ]


def _functions_taken(name: str, kind: str, checker: Callable[..., Verdict]) -> tuple[str, ...]:
    """The learner's functions a checker takes: the exercise's own, or for a result the steps it runs."""
    if kind != "result":
        return (name,)
    return tuple(p for p in inspect.signature(checker).parameters if p not in ("quick", "seed"))


def reference_results(quick: bool = False) -> str:
    """What every multi-step exercise's result checker reports when the library's own functions
    stand in for the learner's: one line per exercise, to compare a solution's numbers with."""
    return "\n".join(repr(v) for s in SETS for v in s.reference_results(quick))


def __getattr__(name: str) -> Callable[..., Verdict]:
    """``exercises.check_<exercise>``: the checker of any registered exercise."""
    checker = (CHECKERS | RESULT_CHECKERS).get(name.removeprefix("check_")) if name.startswith("check_") else None
    if checker is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return checker


def __dir__() -> list[str]:
    return sorted(list(globals()) + [f"check_{name}" for name in CHECKERS | RESULT_CHECKERS])
