"""What a learner reads: every diagnosis of the exercise checkers, word for word.

The checkers (gengen_lib.checking) run a learner's function against a reference and name the
first problem, in a fixed order. Each test hands a checker one kind of wrong answer and
expects the one line a notebook would show. Most use a small exercise made here, "scale":
``scale(x, a) = a * x`` summed over the last axis, for x (6, 4) and a number a; a few use
the course's own checkers.
"""

from __future__ import annotations

import math

import pytest
import torch

from gengen_lib import checking, exercises, flows

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)

SCALE = checking.Exercise(
    "scale",
    lambda g: {"x": torch.randn(6, 4, generator=g), "a": 0.5 + torch.rand(1, generator=g).item()},
    lambda x, a: (a * x).sum(-1),
    mistakes={"this forgets the factor a": lambda x, a: x.sum(-1)},
    shape_hints={(4,): "summed over the batch instead of the last axis"},
    factor_hints={2.0: "a doubled term?"},
    offset_hints={1.0: "an extra + 1?"},
    nonfinite_hint="no logarithms needed here",
    differentiable=("x",),
)

PAIR = checking.Exercise(
    "pair",
    lambda g: {"x": torch.randn(3, generator=g)},
    lambda x: (x, 2 * x),
    parts=("first", "second"),
)


def diagnosis(fn, exercise=SCALE) -> str:
    verdict = exercise.check(fn)
    assert not verdict and verdict.message == f"✗ {exercise.name}: not yet correct — {verdict.detail}"
    return verdict.detail


def test_a_right_answer_passes_in_one_line():
    verdict = SCALE.check(lambda x, a: torch.einsum("nd->n", x) * a)
    assert verdict and verdict.message == "✓ scale: correct on 5 random cases" and repr(verdict) == verdict.message
    assert (verdict.exercise, verdict.detail) == ("scale", "correct on 5 random cases")


def test_not_a_function():
    assert diagnosis(3) == "expected a function, got an int"
    assert diagnosis(None) == "expected a function, got None"


def test_an_exception_names_itself_and_the_inputs():
    def broken(x, a):
        raise RuntimeError("boom\nsecond line")

    detail = diagnosis(broken)
    assert detail.startswith("raised RuntimeError: boom (inputs: x (6, 4), a=")
    a = float(detail.split("a=")[1].rstrip(")"))
    assert 0.5 <= a <= 1.5


def test_a_missing_return():
    assert diagnosis(lambda x, a: None) == "returned None (a missing `return`?)"


def test_not_a_tensor():
    assert diagnosis(lambda x, a: "text") == "returned a str; expected a tensor"


def test_a_wrong_shape_with_and_without_a_hint():
    assert diagnosis(lambda x, a: (a * x).sum(0)) == (
        "wrong shape: expected (6,), got (4,) (summed over the batch instead of the last axis)")
    assert diagnosis(lambda x, a: (a * x).sum(-1, keepdim=True)) == (
        "wrong shape: expected (6,), got (6, 1) (an extra or missing axis of size 1?)")
    assert diagnosis(lambda x, a: a * x) == "wrong shape: expected (6,), got (6, 4)"


def test_non_finite_values_are_counted_with_the_hint():
    def nan_in_first_row(x, a):
        out = (a * x).sum(-1)
        out[0] = math.nan
        out[1] = -math.inf
        return out

    assert diagnosis(nan_in_first_row) == "-inf and NaN in 10 of 30 values (no logarithms needed here)"


def test_a_function_that_draws_its_own_noise():
    assert diagnosis(lambda x, a: (a * x).sum(-1) + torch.rand(6)) == (
        "two calls with the same inputs give different results (does it draw its own random numbers?)")


def test_the_stub():
    assert diagnosis(lambda x, a: torch.zeros(6)) == "returns only zeros (is it still the stub?)"


def test_a_known_mistake_is_named():
    assert diagnosis(lambda x, a: x.sum(-1)) == "this forgets the factor a"


def test_the_wrong_sign():
    assert diagnosis(lambda x, a: -(a * x).sum(-1)) == "wrong sign: your values are minus the expected ones"


FACTORS = [(2.0, "2× the expected ones (a doubled term?)"), (3.0, "3× the expected ones"), (0.25, "1/4×"),
           (-0.5, "-1/2×"), (math.log(2), "0.6931×")]


@pytest.mark.parametrize("factor, words", FACTORS)
def test_a_constant_factor_is_named_as_a_fraction_or_a_decimal(factor, words):
    detail = diagnosis(lambda x, a: factor * (a * x).sum(-1))
    assert detail.startswith("off by a constant factor: your values are ") and words in detail


@pytest.mark.parametrize("offset, words", [(1.0, "+ 1 (an extra + 1?)"), (-0.25, "− 0.25")])
def test_a_constant_offset_is_named_with_its_sign(offset, words):
    detail = diagnosis(lambda x, a: (a * x).sum(-1) + offset)
    assert detail == f"off by a constant: your values are the expected ones {words}"


def test_anything_else_reports_the_largest_error():
    def one_value_off(x, a):
        out = (a * x).sum(-1)
        out[2] = out[2] + 3.0
        return out

    expected = SCALE.reference(*SCALE.make_inputs(torch.Generator().manual_seed(0)).values())[2].item()
    assert diagnosis(one_value_off) == (
        f"numerically off: largest error 3 (expected {expected:.5g}, got {expected + 3:.5g})")


def test_a_result_without_a_gradient():
    assert diagnosis(lambda x, a: (a * x).sum(-1).detach()) == (
        "your result carries no gradient: did you detach it, compute it under torch.no_grad(), call .item(), "
        "or rebuild it from Python numbers? The point of this exercise is the gradient")


def test_a_gradient_that_does_not_reach_an_input():
    both = checking.Exercise("both", SCALE.make_inputs, lambda x, a: (a * x).sum(-1), differentiable=("x",))
    assert diagnosis(lambda x, a: (a * x.detach()).sum(-1) + 0 * torch.ones(6, requires_grad=True), both) == (
        "no gradient reaches x: is it detached somewhere (.detach(), .item(), no_grad)?")


def test_a_wrong_gradient_with_right_values():
    def straight_through(x, a):
        value = (a * x).sum(-1)
        return value.detach() + (x - x.detach()).sum(-1)  # right values, gradient 1 instead of a

    assert diagnosis(straight_through) == (
        "the values are right but the gradient with respect to x is not (a detached part?)")


def test_differentiating_an_answer_that_raises():
    def fails_on_float64(x, a):
        if x.dtype == torch.float64:
            raise TypeError("only float32")
        return (a * x).sum(-1)

    assert diagnosis(fails_on_float64) == "the values are right, but differentiating it raised TypeError: only float32"


def test_tuple_answers_are_checked_part_by_part():
    assert PAIR.check(lambda x: (x, 2 * x))
    assert PAIR.check(lambda x: [x, 2 * x]), "a list is accepted too"
    assert diagnosis(lambda x: x, PAIR) == "returned a Tensor; expected a tuple (first, second)"
    assert diagnosis(lambda x: (x,), PAIR) == "returned a tuple of 1; expected a tuple (first, second)"
    assert diagnosis(lambda x: (x, None), PAIR) == "second: returned None"
    assert diagnosis(lambda x: (x, "y"), PAIR) == "second: returned a str; expected a tensor"
    assert diagnosis(lambda x: (x, -2 * x), PAIR) == "second: wrong sign: your values are minus the expected ones"
    assert diagnosis(lambda x: (x[None], 2 * x), PAIR) == (
        "first: wrong shape: expected (3,), got (1, 3) (an extra or missing axis of size 1?)")


def test_plain_numbers_are_accepted_as_answers():
    one = checking.Exercise("one", lambda g: {"x": torch.rand(1, generator=g).item()}, lambda x: torch.tensor(2 * x))
    assert one.check(lambda x: 2 * x)


def test_a_broken_checker_says_so_instead_of_raising():
    def bad_inputs(g):
        raise ValueError("no inputs")

    verdict = checking.Exercise("broken", bad_inputs, lambda: None).check(lambda: None)
    assert verdict.message == (
        "✗ broken: not yet correct — the checker itself failed (ValueError: no inputs); please report this")


def test_the_seed_decides_the_cases():
    seen = []

    def spy(x, a):
        seen.append(a)
        return (a * x).sum(-1)

    SCALE.check(spy, seed=3)
    first = list(seen)
    seen.clear()
    SCALE.check(spy, seed=3)
    assert seen == first, "the same seed, the same cases"
    assert len(set(first[: checking.CASES])) == checking.CASES, "five different cases"
    seen.clear()
    SCALE.check(spy, seed=4)
    assert seen[0] != first[0]


def test_close_means_relative_1e_4_or_absolute_1e_5():
    a = torch.tensor([1.0, 100.0], dtype=torch.float64)
    assert checking._close(a, a * (1 + 0.9e-4)) and not checking._close(a, a * (1 + 1.1e-4))
    zero = torch.zeros(1, dtype=torch.float64)
    assert checking._close(zero, zero + 0.9e-5) and not checking._close(zero, zero + 1.1e-5)
    assert not checking._close(a, a[:1]), "different shapes are never close"


def test_multi_step_verdicts():
    assert checking.passed("fit", "ELBO -120") == checking.Verdict(True, "✓ fit: ELBO -120", "fit", "ELBO -120")
    wrong = checking.Verdict(False, "✗ fit: not yet correct — too low", "fit", "too low")
    assert checking.failed("fit", "too low") == wrong
    steps = [(lambda fn: checking.passed("a", "ok"), None), (lambda fn: checking.failed("b", "wrong sign"), None),
             (lambda fn: checking.failed("c", "never reached"), None)]  # fmt: skip
    assert checking.first_failing_step(steps) == "first make step b pass: wrong sign"
    assert checking.first_failing_step(steps[:1]) is None


def test_a_measurement_that_raises_becomes_a_diagnosis():
    def measure():
        raise ZeroDivisionError("division by zero")

    verdict = checking.guarded("fit", measure)
    assert verdict.message == (
        "✗ fit: not yet correct — raised ZeroDivisionError: division by zero while measuring the result")
    assert checking.guarded("fit", lambda: checking.passed("fit", "done")).passed


def test_an_error_without_a_message_is_named_by_its_type():
    assert diagnosis(lambda x, a: (_ for _ in ()).throw(KeyError())).startswith("raised KeyError (inputs:")


# --- the course's checkers catch the mistakes they promise to name --------------------------


def test_the_kl_checker():
    assert exercises.check_kl_standard_normal(lambda mu, logvar: 0.5 * (logvar.exp() + mu**2 - logvar - 1).sum(-1))
    halved = exercises.check_kl_standard_normal(lambda mu, logvar: (logvar.exp() + mu**2 - logvar - 1).sum(-1))
    assert halved.detail == "off by a constant factor: your values are 2× the expected ones (a missing 1/2?)"


def test_the_reparameterization_checker():
    assert exercises.check_reparameterize(lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps)
    verdict = exercises.check_reparameterize(lambda mu, logvar, eps: mu + torch.exp(logvar) * eps)
    assert verdict.detail.startswith("this scales eps by the variance exp(logvar)")


def test_the_importance_sampling_checker():
    def right(lpx, lpz, lqz):
        return torch.logsumexp(lpx + lpz - lqz, 0) - math.log(len(lpx))

    assert exercises.check_importance_log_likelihood(right)
    verdict = exercises.check_importance_log_likelihood(lambda lpx, lpz, lqz: torch.logsumexp(lpx + lpz - lqz, 0))
    assert verdict.detail.endswith("(a missing − log k: the average is 1/k times the sum)")


@pytest.mark.parametrize("c, words", [(2.0, "2×"), (-3.0, "-3×"), (2.0015, "2×"), (2.01, "2.01×"), (1.5, "1.5×"),
                                      (1.0, "1×"), (1.0008, "1×"), (0.25, "1/4×"), (-0.5, "-1/2×"), (0.3334, "1/3×"),
                                      (0.3, "0.3×"), (-0.3, "-0.3×"), (math.log(2), "0.6931×")])  # fmt: skip
def test_a_factor_is_written_as_an_integer_a_unit_fraction_or_a_decimal(c, words):
    """Within 1e-3 of an integer or of 1/integer it is written as one; else with 4 significant digits."""
    assert checking._factor(c) == words


def test_the_slerp_checker_recognises_the_formula_found_online():
    """sin((1 - t) w) z0 + sin(t w) z1, over sin w, on the raw vectors: right only when |z0| = |z1|."""

    def online(z0, z1, t):
        omega = torch.arccos(torch.dot(z0, z1) / (z0.norm() * z1.norm()))
        return (math.sin((1 - t) * omega) * z0 + math.sin(t * omega) * z1) / math.sin(omega)

    assert exercises.check_slerp(online).detail == (
        "this weights z0 and z1 themselves; rotate the unit vectors z/|z| and interpolate the norm linearly "
        "(the two agree only when |z0| = |z1|)")


COUPLING_MISTAKES = {
    "this multiplies by exp(−s); the forward pass multiplies by exp(s)":
        lambda x, mask, s, t: (mask * x + (1 - mask) * (x * torch.exp(-s) + t), ((1 - mask) * s).sum(-1)),
    "the log-determinant sums s over all dimensions; only the transformed ones (mask = 0) count":
        lambda x, mask, s, t: (mask * x + (1 - mask) * (x * torch.exp(s) + t), s.sum(-1)),
    "the log-determinant sums exp(s); it is the sum of the log-scales s themselves":
        lambda x, mask, s, t: (mask * x + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * torch.exp(s)).sum(-1)),
}  # fmt: skip


@pytest.mark.parametrize("expected", COUPLING_MISTAKES)
def test_the_coupling_checker_names_each_mistake(expected):
    verdict = exercises.check_coupling_forward(COUPLING_MISTAKES[expected])
    assert verdict.detail.endswith(expected)


def test_inputs_that_are_not_tensors_or_numbers_are_named_by_their_kind():
    modes = checking.Exercise("mode", lambda g: {"x": torch.randn(2, generator=g), "mode": "sum"}, lambda x, mode: x)

    def broken(x, mode):
        raise ValueError("no")

    assert diagnosis(broken, modes) == "raised ValueError: no (inputs: x (2,), mode (a str))"


def test_a_long_error_message_is_cut_to_160_characters():
    def verbose(x, a):
        raise ValueError("v" * 200)

    assert diagnosis(verbose).startswith(f"raised ValueError: {'v' * 160} (inputs: ")


@pytest.mark.parametrize("name", exercises.SHORT_CHECKERS)
def test_each_short_checker_draws_its_cases_from_the_seed_it_is_given_zero_by_default(name):
    check = exercises.SHORT_CHECKERS[name]

    def first_case(**seed) -> list:
        seen = []

        def spy(*args):
            seen.append([a.clone() if isinstance(a, torch.Tensor) else a for a in args])
            raise ValueError("only looking")

        check(spy, **seed)
        return seen[0]

    def same(a, b):
        return all(torch.equal(u, v) if isinstance(u, torch.Tensor) else u == v for u, v in zip(a, b, strict=True))

    def evaluated(case: list) -> list:
        """A function in a case (a velocity field v(x, t)) as its values at the case's first tensor, t = 0.5."""
        probe = next(a for a in case if isinstance(a, torch.Tensor))
        return [a(probe, torch.full((len(probe),), 0.5)) if callable(a) else a for a in case]

    default, zero, one = (evaluated(case) for case in (first_case(), first_case(seed=0), first_case(seed=1)))
    assert same(default, zero) and not same(zero, one)


def test_the_coupling_checkers_catch_an_answer_that_ignores_the_mask_it_is_given():
    """The cases use both parities of the alternating mask, so a hard-coded mask cannot pass."""
    fixed = flows.alternating_mask(4, 0)

    def forward(x, mask, s, t):
        return fixed * x + (1 - fixed) * (x * torch.exp(s) + t), ((1 - fixed) * s).sum(-1)

    def inverse(y, mask, s, t):
        return fixed * y + (1 - fixed) * ((y - t) * torch.exp(-s))

    assert not exercises.check_coupling_forward(forward) and not exercises.check_coupling_inverse(inverse)


def test_when_a_factor_and_an_offset_both_explain_the_answer_the_factor_is_named_first():
    """The documented order: a constant factor before a constant offset (4 = 2 × 2 = 2 + 2)."""
    twos = checking.Exercise("twos", lambda g: {"x": torch.randn(3, generator=g)}, lambda x: torch.full((3,), 2.0))
    assert diagnosis(lambda x: torch.full((3,), 4.0), twos) == (
        "off by a constant factor: your values are 2× the expected ones")


def test_an_offset_from_an_expected_zero_is_named():
    """No factor can turn zeros into 0.5: the checker names the offset (and does not fail itself)."""
    zeros = checking.Exercise("zeros", lambda g: {"x": torch.randn(3, generator=g)}, lambda x: torch.zeros(3))
    assert diagnosis(lambda x: torch.full((3,), 0.5), zeros) == (
        "off by a constant: your values are the expected ones + 0.5")


def test_an_answer_that_overwrites_its_inputs_is_diagnosed_on_fresh_copies():
    """Each call gets its own copy of the inputs: an in-place answer cannot spoil the next call."""
    double = checking.Exercise("double", lambda g: {"x": torch.randn(3, generator=g)}, lambda x: 2 * x)
    assert diagnosis(lambda x: x.mul_(3), double) == "off by a constant factor: your values are 1.5× the expected ones"
