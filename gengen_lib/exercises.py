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
calls it. :func:`catalogue` lists them all with their family and points, for grading.
"""

from __future__ import annotations

import importlib
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


@dataclass(frozen=True)
class Entry:
    """One gradable exercise: ``kind`` is ``short``, ``step`` or ``result``; ``checker`` returns a Verdict."""

    family: str
    name: str
    kind: str
    checker: Callable[..., Verdict]
    points: int = 1


def catalogue() -> list[Entry]:
    """Every exercise of the course, family by family in the notebook's order: one point for each
    function a learner writes (short exercises and steps) and one for each measured result."""
    return [
        Entry(s.family, name, kind, checker)
        for s in SETS
        for kind, checkers in (("short", s.short), ("step", s.steps), ("result", s.results))
        for name, checker in checkers.items()
    ]


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
