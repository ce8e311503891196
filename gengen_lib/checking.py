"""The machinery behind the exercise checkers: run a learner's function, compare, diagnose.

An :class:`Exercise` draws random inputs with a fixed seed, runs the learner's function and
a reference on them, and returns a :class:`Verdict`, shown by a notebook as ONE line:
``✓ <exercise>: correct on 5 random cases`` or ``✗ <exercise>: not yet correct — <diagnosis>``.
The diagnosis names the first problem found, in this order: not a function, an exception,
not a tensor, a wrong shape, NaN or inf, different results for the same inputs, only zeros
(the stub), a known mistake of that exercise, the wrong sign, a constant factor, a constant
offset, else the largest error; then, for values that are right, a gradient that does not
reach an input or differs from the reference's. A checker never raises, whatever it is given.

Multi-step exercises chain several such steps and end in a measured result (an ELBO
reached, nats from an exact value...): :func:`measure_after_steps` names the first step to fix,
or runs the measurement, whose verdict :func:`passed` / :func:`failed` build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

N, D, K = 6, 4, 7  # batch size, dimension, importance samples
CASES = 5
RTOL, ATOL = 1e-4, 1e-5

Inputs = dict[str, torch.Tensor | float]


@dataclass(frozen=True)
class Verdict:
    """A checker's answer: true when the function is correct. A notebook shows it as one line.

    ``exercise`` and ``detail`` are the two halves of the line: the exercise's name and what
    was found (the diagnosis, or what a right answer achieved).
    """

    passed: bool
    message: str
    exercise: str = ""
    detail: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


@dataclass
class Exercise:
    """One exercise: how to draw inputs, the reference answer, and what the checker recognises.

    ``reference`` and every function in ``mistakes`` take the inputs positionally, in the
    order ``make_inputs`` lists them. ``parts`` names the outputs when the answer is a tuple.
    ``mistakes`` maps a diagnosis to a typical wrong implementation: a learner's function
    that agrees with one gets that diagnosis. The hint tables explain a wrong shape, a
    constant factor or a constant offset they recognise.
    """

    name: str
    make_inputs: Callable[[torch.Generator], Inputs]
    reference: Callable
    parts: tuple[str, ...] = ("",)
    mistakes: dict[str, Callable] = field(default_factory=dict)
    shape_hints: dict[tuple[int, ...], str] = field(default_factory=dict)
    factor_hints: dict[float, str] = field(default_factory=dict)
    offset_hints: dict[float, str] = field(default_factory=dict)
    nonfinite_hint: str = ""
    differentiable: tuple[str, ...] = ()  # inputs the answer must pass gradients to, as the reference does

    def check(self, fn: Callable, seed: int = 0) -> Verdict:
        """Grade ``fn`` on CASES random inputs drawn with ``seed``; the verdict shows as one line."""
        try:
            generator = torch.Generator().manual_seed(seed)
            problem = self.problem(fn, [self.make_inputs(generator) for _ in range(CASES)])
        except Exception as error:  # a checker must never break the notebook that calls it
            problem = f"the checker itself failed ({_one_line(error)}); please report this"
        if problem is None:
            return passed(self.name, f"correct on {CASES} random cases")
        return failed(self.name, problem)

    def problem(self, fn: Callable, cases: list[Inputs]) -> str | None:
        """The first problem with ``fn`` as one phrase, or None when it matches the reference on every case."""
        if not callable(fn):
            return f"expected a function, got {_kind(fn)}"
        expected = [_as_tuple(self.reference(*case.values())) for case in cases]
        got = []
        for case in cases:
            out, problem = self.call(fn, case)
            if problem:
                return problem
            got.append(out)
        for i, label in enumerate(self.parts):
            prefix = f"{label}: " if label else ""
            for g, e in zip(got, expected, strict=True):
                if g[i].shape != e[i].shape:
                    return prefix + _shape_problem(g[i].shape, e[i].shape, self.shape_hints)
            g = torch.cat([out[i].flatten() for out in got])
            e = torch.cat([out[i].flatten() for out in expected])
            if not _close(g, e):
                return prefix + self.value_problem(fn, cases, got, i, g, e)
        return self.gradient_problem(fn, cases[0])

    def gradient_problem(self, fn: Callable, case: Inputs) -> str | None:
        """Values are right; do gradients flow, and are they the reference's? None when they are.

        Both functions get float64 copies of the inputs named in ``differentiable``; their
        outputs are weighted by fixed random numbers and summed, and autograd's gradients of
        that sum are compared input by input.
        """
        if not self.differentiable:
            return None

        def gradients(function):
            args = {k: v.detach().double().requires_grad_(k in self.differentiable) if isinstance(v, torch.Tensor)
                    else v for k, v in case.items()}  # fmt: skip
            outputs = [o for o in _as_tuple_keep_graph(function(*args.values())) if isinstance(o, torch.Tensor)]
            weights = torch.Generator().manual_seed(7)
            total = sum((o * torch.randn(o.shape, generator=weights, dtype=torch.float64).to(o.device, o.dtype)).sum()
                        for o in outputs if o.requires_grad)  # fmt: skip
            if not torch.is_tensor(total):
                return None
            inputs = [args[k] for k in self.differentiable]
            return dict(zip(self.differentiable, torch.autograd.grad(total, inputs, allow_unused=True), strict=True))

        try:
            got = gradients(fn)
        except Exception as error:
            return f"the values are right, but differentiating it raised {_one_line(error)}"
        if got is None:
            return ("your result carries no gradient: did you detach it, compute it under torch.no_grad(), "
                    "call .item(), or rebuild it from Python numbers? The point of this exercise is the gradient")
        expected = gradients(self.reference)
        for name in self.differentiable:
            if got[name] is None and expected[name] is not None:
                return f"no gradient reaches {name}: is it detached somewhere (.detach(), .item(), no_grad)?"
            if got[name] is not None and not _close(got[name].double(), expected[name]):
                return f"the values are right but the gradient with respect to {name} is not (a detached part?)"
        return None

    def value_problem(self, fn, cases, got, i: int, g: torch.Tensor, e: torch.Tensor) -> str:
        """Why output part ``i`` (all cases, flattened: ``g``) differs from the expected ``e``."""
        bad = ~torch.isfinite(g) & torch.isfinite(e)
        if bad.any():
            kinds = sorted({"NaN" if v != v else ("inf" if v > 0 else "-inf") for v in g[bad].tolist()})
            hint = f" ({self.nonfinite_hint})" if self.nonfinite_hint else ""
            return f"{' and '.join(kinds)} in {int(bad.sum())} of {g.numel()} values{hint}"
        again, _ = self.call(fn, cases[0])
        if again is None or not all(_close(a, b) for a, b in zip(again, got[0], strict=True)):
            return "two calls with the same inputs give different results (does it draw its own random numbers?)"
        if not g.any():
            return "returns only zeros (is it still the stub?)"
        for diagnosis, wrong in self.mistakes.items():
            if _close(g, torch.cat([_as_tuple(wrong(*case.values()))[i].flatten() for case in cases])):
                return diagnosis
        if _close(g, -e):
            return "wrong sign: your values are minus the expected ones"
        keep = e.abs() > 1e-6 * e.abs().max()
        factor = (g[keep] / e[keep]).median().item() if keep.any() else 0.0
        offset = (g - e).median().item()
        factor_error = (g - factor * e).abs().max().item() if factor != 0 else math.inf
        offset_error = (g - e - offset).abs().max().item()
        if factor_error <= offset_error and _close(g, factor * e):
            message = f"off by a constant factor: your values are {_factor(factor)} the expected ones"
            return message + _hint(factor, self.factor_hints)
        if _close(g, e + offset):
            sign = "+" if offset > 0 else "−"
            message = f"off by a constant: your values are the expected ones {sign} {abs(offset):.4g}"
            return message + _hint(offset, self.offset_hints)
        worst = (g - e).abs().argmax()
        return (
            f"numerically off: largest error {(g - e)[worst].abs().item():.3g} "
            f"(expected {e[worst].item():.5g}, got {g[worst].item():.5g})"
        )

    def call(self, fn: Callable, case: Inputs) -> tuple[tuple[torch.Tensor, ...] | None, str | None]:
        """(``fn``'s outputs as a tuple of float64 tensors, None), or (None, what went wrong)."""
        args = [v.clone() if isinstance(v, torch.Tensor) else v for v in case.values()]
        try:
            out = fn(*args)
        except Exception as error:
            inputs = ", ".join(_describe(k, v) for k, v in case.items())
            return None, f"raised {_one_line(error)} (inputs: {inputs})"
        if out is None:
            return None, "returned None (a missing `return`?)"
        if len(self.parts) == 1:
            out = (out,)
        elif not isinstance(out, tuple | list) or len(out) != len(self.parts):
            return None, f"returned {_kind(out)}; expected a tuple ({', '.join(self.parts)})"
        tensors = []
        for label, value in zip(self.parts, out, strict=True):
            prefix = f"{label}: " if label else ""
            if value is None:
                return None, prefix + "returned None"
            try:
                tensor = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
                tensors.append(tensor.to("cpu", torch.float64))
            except Exception:
                return None, prefix + f"returned {_kind(value)}; expected a tensor"
        return tuple(tensors), None


def _shape_problem(got: torch.Size, expected: torch.Size, hints: dict[tuple[int, ...], str]) -> str:
    message = f"wrong shape: expected {_shape(expected)}, got {_shape(got)}"
    hint = hints.get(tuple(got))
    if hint is None and got.numel() == expected.numel():
        hint = "an extra or missing axis of size 1?"
    return f"{message} ({hint})" if hint else message


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=RTOL, atol=ATOL)


def _as_tuple_keep_graph(out) -> tuple:
    return tuple(out) if isinstance(out, tuple | list) else (out,)


def _as_tuple(out) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().to(torch.float64) for t in (out if isinstance(out, tuple) else (out,)))


def _hint(value: float, hints: dict[float, str]) -> str:
    for key, text in hints.items():
        if math.isclose(value, key, rel_tol=1e-3):
            return f" ({text})"
    return ""


def _factor(c: float) -> str:
    """2 -> '2×', 0.25 -> '1/4×', -0.5 -> '-1/2×', 0.6931 -> '0.6931×'."""
    if abs(c) >= 1 and math.isclose(c, round(c), rel_tol=1e-3):
        return f"{round(c)}×"
    if abs(c) < 1 and math.isclose(1 / c, round(1 / c), rel_tol=1e-3):
        return f"{'-' if c < 0 else ''}1/{abs(round(1 / c))}×"
    return f"{c:.4g}×"


def _describe(name: str, value) -> str:
    """An input as an error message lists it: its shape, its value, or what it is."""
    if isinstance(value, torch.Tensor):
        return f"{name} {_shape(value.shape)}"
    if isinstance(value, int | float):
        return f"{name}={value:.3g}"
    return f"{name} ({_kind(value)})"


def _shape(shape) -> str:
    return str(tuple(shape))


def _a(noun: str) -> str:
    """'a tensor', 'an int'."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _kind(value) -> str:
    if isinstance(value, tuple | list):
        return f"{_a(type(value).__name__)} of {len(value)}"
    return "None" if value is None else _a(type(value).__name__)


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    message = lines[0][:160] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# ---------------------------------------------------------------------------------------
# Multi-step exercises: the steps first, then a measured result
# ---------------------------------------------------------------------------------------


def passed(name: str, result: str) -> Verdict:
    """A right answer, with what it achieved."""
    return Verdict(True, f"✓ {name}: {result}", name, result)


def failed(name: str, problem: str) -> Verdict:
    """A wrong answer, with its diagnosis."""
    return Verdict(False, f"✗ {name}: not yet correct — {problem}", name, problem)


def first_failing_step(steps: list[tuple[Callable[[Callable], Verdict], Callable]]) -> str | None:
    """For (checker, learner's function) pairs in order: which step to fix first, or None when all pass."""
    for checker, fn in steps:
        verdict = checker(fn)
        if not verdict:
            return f"first make step {verdict.exercise} pass: {verdict.detail}"
    return None


def guarded(name: str, measure: Callable[[], Verdict]) -> Verdict:
    """Run a multi-step exercise's measurement; an exception becomes a one-line diagnosis."""
    try:
        return measure()
    except Exception as error:
        return failed(name, f"raised {_one_line(error)} while measuring the result")


def measure_after_steps(
    name: str, steps: list[tuple[Callable[[Callable], Verdict], Callable]], measure: Callable[[], Verdict]
) -> Verdict:
    """A multi-step exercise's verdict: the first step that fails its own check, else the measured result."""
    problem = first_failing_step(steps)
    return failed(name, problem) if problem else guarded(name, measure)


# ---------------------------------------------------------------------------------------
# One family's exercises, as a record (collected by gengen_lib.exercises)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExerciseSet:
    """The exercises of one model family, in the notebook's order.

    ``short``: one-function exercises, name -> ``check_<name>(fn)``; ``steps``: the steps of
    the multi-step exercises, graded the same way; ``results``: the measured ends of the
    multi-step exercises, name -> a checker that takes the learner's step functions;
    ``reference_results(quick)``: the results' verdicts with the library's own functions
    standing in for the learner's, to compare a solution's numbers with.
    """

    family: str
    short: dict[str, Callable[..., Verdict]]
    steps: dict[str, Callable[..., Verdict]]
    results: dict[str, Callable[..., Verdict]]
    reference_results: Callable[[bool], list[Verdict]]


def by_name(*checkers: Callable[..., Verdict]) -> dict[str, Callable[..., Verdict]]:
    """An :class:`ExerciseSet`'s table: each checker under the name of what it checks (``check_slerp`` -> ``slerp``)."""
    return {checker.__name__.removeprefix("check_"): checker for checker in checkers}
