"""The flow-matching exercise checkers pass right answers written differently and name the usual mistakes."""

import pytest
import torch

from gengen_lib import exercises_flow_matching as ex

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)


def straight_path(x0, x1, t):
    t = t.unsqueeze(-1)
    return x0 + t * (x1 - x0), x1 - x0


def euler(velocity, x0, steps):
    x = x0
    for k in range(steps):
        x = x + velocity(x, torch.full((len(x),), k / steps, dtype=x.dtype)) / steps
    return x


def hutchinson(velocity, x, t, eps):
    x = x.detach().requires_grad_(True)
    (vjp,) = torch.autograd.grad(velocity(x, t), x, eps)
    return torch.einsum("nd,nd->n", vjp, eps)


@pytest.mark.parametrize("check, answer", [
    (ex.check_flow_matching_target, straight_path),
    (ex.check_euler_sample, euler),
    (ex.check_hutchinson_divergence, hutchinson),
])  # fmt: skip
def test_a_right_answer_written_its_own_way_passes(check, answer):
    verdict = check(answer)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("check, wrong, diagnosis", [
    (ex.check_flow_matching_target, lambda x0, x1, t: straight_path(x1, x0, t), "the ends are swapped"),
    (ex.check_flow_matching_target, lambda x0, x1, t: (straight_path(x0, x1, t)[0], x0 - x1),
     "the velocity points the wrong way"),
    (ex.check_flow_matching_target, lambda x0, x1, t: (straight_path(x0, x1, t)[0], (x1 - x0).detach()),
     "the gradient with respect to x0 is not"),
    (ex.check_euler_sample, lambda v, x0, steps: euler(lambda x, t: v(x, t) * steps, x0, steps),
     "multiply it by the step size"),
    (ex.check_euler_sample, lambda v, x0, steps: euler(lambda x, t: v(x, t + 1 / steps), x0, steps),
     "Euler uses its start"),
    (ex.check_euler_sample, lambda v, x0, steps: euler(lambda x, t: v(x, 0 * t), x0, steps), "the time stays at 0"),
    (ex.check_hutchinson_divergence, lambda v, x, t, eps: (v(x, t) * eps).sum(-1), "with no Jacobian"),
    (ex.check_hutchinson_divergence, lambda v, x, t, eps: hutchinson(v, x, t, torch.ones_like(eps)) * 0
     + torch.autograd.grad(v(x.requires_grad_(True), t), x, eps)[0].sum(-1), "multiplied by eps again"),
    (ex.check_hutchinson_divergence, lambda v, x, t, eps: hutchinson(v, x, t, eps)[:, None] * eps, "wrong shape"),
    (ex.check_euler_sample, lambda v, x0, steps: torch.zeros_like(x0), "still the stub"),
])  # fmt: skip
def test_a_usual_mistake_is_named(check, wrong, diagnosis):
    verdict = check(wrong)
    assert not verdict.passed
    assert diagnosis in verdict.message, verdict.message


def test_every_checker_is_registered_and_reachable_by_name():
    from gengen_lib import exercises

    assert set(ex.EXERCISES.short) == {"flow_matching_target", "euler_sample", "hutchinson_divergence"}
    assert exercises.FAMILIES["flow_matching"] == ("flow_matching_target", "euler_sample", "hutchinson_divergence")
    assert exercises.check_euler_sample is ex.check_euler_sample
