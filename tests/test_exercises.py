"""Specification of gengen_lib.exercises: every checker accepts a right answer, names the
mistake in a typical wrong one in a single printed line, and never raises."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from gengen_lib import exercises, flows, gan, vae

# --- right answers, written the way a learner would (the notebook's solutions) -------------------


def kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu**2 - logvar - 1).sum(-1)


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(logvar / 2) * eps


def importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z):
    k = log_p_z.shape[0]
    return torch.logsumexp(log_p_x_given_z + log_p_z - log_q_z, dim=0) - math.log(k)


def slerp(z0, z1, t):
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 * u1).sum().clamp(-1, 1))
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


def discriminator_loss(real_logits, fake_logits):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits):
    return -F.logsigmoid(fake_logits).mean()


def coupling_y(x, mask, s, t):
    return mask * x + (1 - mask) * (x * torch.exp(s) + t)


def coupling_forward(x, mask, s, t):
    return coupling_y(x, mask, s, t), ((1 - mask) * s).sum(-1)


def coupling_inverse(y, mask, s, t):
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s)


def bits_per_dim(log_prob_unit):
    return (784 * math.log(256) - log_prob_unit) / (784 * math.log(2))


def library_coupling(mask, s, t) -> flows.AffineCoupling:
    """The library's layer with its conditioner replaced by the given s and t (their free coordinates)."""
    layer = flows.AffineCoupling(mask, hidden=1)
    free = (1 - mask).bool()
    layer.scale_and_shift = lambda _: (s[:, free], t[:, free])
    return layer


SOLUTIONS = {
    "kl_standard_normal": kl,
    "reparameterize": reparameterize,
    "importance_log_likelihood": importance_log_likelihood,
    "slerp": slerp,
    "discriminator_loss": discriminator_loss,
    "non_saturating_generator_loss": generator_loss,
    "coupling_forward": coupling_forward,
    "coupling_inverse": coupling_inverse,
    "bits_per_dim": bits_per_dim,
}

LIBRARY = {
    "kl_standard_normal": vae.kl_standard_normal,
    "slerp": gan.slerp,
    "discriminator_loss": lambda r, f: gan.discriminator_loss(r, f, torch.ones_like(r)),
    "non_saturating_generator_loss": gan.generator_loss,
    "coupling_forward": lambda x, mask, s, t: library_coupling(mask, s, t)(x),
    "coupling_inverse": lambda y, mask, s, t: library_coupling(mask, s, t).inverse(y),
    "bits_per_dim": flows.bits_per_dim,
}


def verdict(capsys, checker, fn) -> tuple[bool, str]:
    """The checker's verdict and the one line a notebook shows for it; it prints nothing."""
    result = checker(fn)
    assert capsys.readouterr().out == "", "the verdict is the cell's value, not a print"
    message = repr(result)
    assert "\n" not in message and message[0] in "✓✗", f"expected one line, got {message!r}"
    return bool(result), message


# --- every checker accepts right answers --------------------------------------------------------


def test_there_are_three_exercises_per_model_family():
    assert list(exercises.CHECKERS) == list(SOLUTIONS)
    assert len(exercises.CHECKERS) == 9


@pytest.mark.parametrize("name", list(SOLUTIONS))
def test_the_checker_accepts_the_solution(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], SOLUTIONS[name])
    assert ok and line == f"✓ {name}: correct on 5 random cases"


@pytest.mark.parametrize("name", list(LIBRARY))
def test_the_exercise_agrees_with_the_library(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], LIBRARY[name])
    assert ok, line


# --- typical wrong answers get False and a diagnosis ---------------------------------------------

D = exercises.D
def half_sum(terms, dim=-1):
    return 0.5 * terms.sum(dim)


WRONG = [
    # VAE
    ("kl_standard_normal", lambda mu, lv: 2 * kl(mu, lv), "your values are 2× the expected ones (a missing 1/2?)"),
    ("kl_standard_normal", lambda mu, lv: -kl(mu, lv), "wrong sign: your values are minus the expected ones"),
    ("kl_standard_normal", lambda mu, lv: half_sum(lv.exp() + mu**2 - lv - 1, 0),
     "wrong shape: expected (6,), got (4,) (summed over the batch (dim 0) instead of the latent dimension"),
    ("kl_standard_normal", lambda mu, lv: 0.5 * (lv.exp() + mu**2 - lv - 1), "wrong shape: expected (6,), got (6, 4)"),
    ("kl_standard_normal", lambda mu, lv: kl(mu, lv).sum(), "got () (a single number"),
    ("kl_standard_normal", lambda mu, lv: kl(mu, lv) / D, "1/4× the expected ones (a mean over the latent dimension"),
    ("kl_standard_normal", lambda mu, lv: half_sum(lv.exp() + mu**2 - lv), "the expected ones + 2 (a missing −1"),
    ("kl_standard_normal", lambda mu, lv: kl(mu, 2 * lv), "treats logvar as log σ"),
    ("kl_standard_normal", lambda mu, lv: kl(mu, lv)[:, None], "got (6, 1) (an extra or missing axis of size 1?)"),
    ("reparameterize", lambda mu, lv, eps: mu + torch.exp(lv) * eps, "scales eps by the variance exp(logvar)"),
    ("reparameterize", lambda mu, lv, eps: mu + lv.sqrt() * eps, "NaN in"),
    ("reparameterize", lambda mu, lv, eps: mu + torch.exp(lv / 2) * torch.randn_like(mu), "different results"),
    ("importance_log_likelihood", lambda a, b, c: torch.logsumexp(a + b - c, 0),
     "the expected ones + 1.946 (a missing − log k"),
    ("importance_log_likelihood", lambda a, b, c: (a + b - c).mean(0), "(that is the ELBO estimate)"),
    ("importance_log_likelihood", lambda a, b, c: (a + b - c).exp().mean(0).log(),
     "-inf in 30 of 30 values (exp of log-weights near −130 underflows"),
    ("importance_log_likelihood", lambda a, b, c: torch.logsumexp(a + b - c, 1) - math.log(7),
     "got (7,) (reduced over the images (dim 1) instead of the samples (dim 0))"),
    # GAN
    ("slerp", gan.lerp, "this is linear interpolation"),
    ("slerp", lambda z0, z1, t: slerp(z0, z1, 1 - t), "t runs backwards"),
    ("slerp", lambda z0, z1, t: slerp(z0 / z0.norm(), z1 / z1.norm(), t), "numerically off: largest error"),
    ("discriminator_loss", lambda r, f: -discriminator_loss(r, f), "wrong sign"),
    ("discriminator_loss", lambda r, f: discriminator_loss(f, r), "the labels are swapped"),
    ("discriminator_loss", lambda r, f: 6 * discriminator_loss(r, f), "6× the expected ones (a sum over the batch"),
    ("discriminator_loss", lambda r, f: discriminator_loss(r.sigmoid(), f.sigmoid()), "sigmoid is applied twice"),
    ("discriminator_loss", lambda r, f: discriminator_loss(r, f) / 2, "1/2× the expected ones (the average of the"),
    ("non_saturating_generator_loss", lambda f: -generator_loss(f), "wrong sign"),
    ("non_saturating_generator_loss", lambda f: torch.log1p(-f.sigmoid()).mean(), "this is the minimax loss"),
    ("non_saturating_generator_loss", lambda f: -F.logsigmoid(f), "wrong shape: expected (), got (6,)"),
    # flows
    ("coupling_forward", lambda x, m, s, t: (coupling_y(x, m, s, t), s.sum(-1)),
     "log_det: the log-determinant sums s over all dimensions; only the transformed ones (mask = 0) count"),
    ("coupling_forward", lambda x, m, s, t: (coupling_y(x, m, s, t), ((1 - m) * s).sum(0)),
     "log_det: wrong shape: expected (6,), got (4,) (summed over the batch"),
    ("coupling_forward", lambda x, m, s, t: (x * s.exp() + t, ((1 - m) * s).sum(-1)), "y: the kept part changes too"),
    ("coupling_forward", lambda x, m, s, t: coupling_forward(x, 1 - m, s, t), "y: the mask's roles are swapped"),
    ("coupling_forward", lambda x, m, s, t: coupling_y(x, m, s, t), "returned a Tensor; expected a tuple (y, log_det)"),
    ("coupling_inverse", lambda y, m, s, t: m * y + (1 - m) * (y * torch.exp(-s) - t),
     "this undoes the scale before the shift"),
    ("coupling_inverse", lambda y, m, s, t: coupling_inverse(y, m, -s, t), "this multiplies by exp(s)"),
    ("bits_per_dim", lambda lp: (784 * math.log(256) - lp) / 784, "0.6931× the expected ones (that is nats per"),
    ("bits_per_dim", lambda lp: -lp / (784 * math.log(2)), "the expected ones − 8 (a missing 784 ln 256"),
    ("bits_per_dim", lambda lp: (784 * 8 - lp) / (784 * math.log(2)), "mixed units"),
]


@pytest.mark.parametrize(("name", "wrong", "diagnosis"), WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_a_typical_mistake_is_named(capsys, name, wrong, diagnosis):
    ok, line = verdict(capsys, exercises.CHECKERS[name], wrong)
    assert not ok
    assert line.startswith(f"✗ {name}: not yet correct — ")
    assert diagnosis in line


# --- whatever the learner's function does, the checker does not raise ----------------------------


def raises(*args):
    return {}["missing"]


@pytest.mark.parametrize(
    ("fn", "diagnosis"),
    [
        (raises, "raised KeyError: 'missing' (inputs: x (6, 4), mask (4,), s (6, 4), t (6, 4))"),
        (lambda *args: (torch.full((6, 4), math.nan), torch.zeros(6)), "y: NaN in 120 of 120 values"),
        (lambda *args: None, "returned None (a missing `return`?)"),
        (lambda *args: ("y", "log_det"), "y: returned a str; expected a tensor"),
        (lambda *args: (torch.zeros(6, 4), torch.zeros(6)), "y: returns only zeros (is it still the stub?)"),
        ("coupling_forward", "expected a function, got a str"),
    ],
    ids=["raises", "nan", "none", "not-a-tensor", "stub", "not-callable"],
)
def test_a_broken_function_gets_a_one_line_diagnosis(capsys, fn, diagnosis):
    ok, line = verdict(capsys, exercises.check_coupling_forward, fn)
    assert not ok and line == f"✗ coupling_forward: not yet correct — {diagnosis}"


@pytest.mark.parametrize("name", list(exercises.CHECKERS))
def test_no_checker_raises(capsys, name):
    for fn in (raises, lambda *a: math.inf, lambda *a: [[1, 2], [3]], lambda *a: torch.ones(0), len):
        ok, _ = verdict(capsys, exercises.CHECKERS[name], fn)
        assert ok is False


def test_any_other_error_is_reported_not_raised(capsys, monkeypatch):
    monkeypatch.setattr(exercises.BITS_PER_DIM, "reference", raises)
    ok, line = verdict(capsys, exercises.check_bits_per_dim, bits_per_dim)
    assert not ok and "the checker itself failed (KeyError: 'missing')" in line


def test_a_verdict_does_not_depend_on_the_global_seed(capsys):
    slightly_off = lambda mu, lv: kl(mu, lv) + 1e-3 * mu[:, 0]
    torch.manual_seed(123)
    first = verdict(capsys, exercises.check_kl_standard_normal, slightly_off)
    torch.manual_seed(456)
    assert verdict(capsys, exercises.check_kl_standard_normal, slightly_off) == first
    assert first[1].startswith("✗ kl_standard_normal: not yet correct — numerically off: largest error 0.00")


# --- the notebook of exercises --------------------------------------------------------------------


def test_the_notebook_has_a_stub_a_check_and_a_folded_working_solution_per_exercise(capsys):
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "04_exercises.ipynb", as_version=4)
    cells = notebook.cells
    assert cells[0].source.startswith("# Exercises\n") and cells[1].metadata.get("tags") == ["parameters"]
    assert notebook.metadata.kernelspec.name == "python3"
    checked = []
    for i, cell in enumerate(cells):
        call = re.fullmatch(r"exercises\.(check_\w+)\((\w+)\)", cell.source)
        if cell.cell_type != "code" or not call:
            continue
        checker, name = getattr(exercises, call[1]), call[2]
        stub, solution = cells[i - 1], cells[i + 1]
        assert "# TODO" in stub.source
        assert solution.source.startswith("````{admonition} Solution\n:class: dropdown\n")
        answer = re.search(r"```python\n(.*?)```", solution.source, re.S)[1]
        for source, passes in ((stub.source, False), (answer, True)):
            namespace = {"math": math, "torch": torch, "F": F}
            exec(source, namespace)
            assert verdict(capsys, checker, namespace[name])[0] is passes
        checked.append(name)
    assert checked == list(exercises.CHECKERS)


# --- the point of these exercises is the gradient ------------------------------------------------


def _no_grad_reparameterize(mu, logvar, eps):
    with torch.no_grad():
        return mu + torch.exp(0.5 * logvar) * eps


GRADIENT_MISTAKES = [
    (exercises.check_reparameterize, lambda mu, logvar, eps: (mu + torch.exp(0.5 * logvar) * eps).detach(),
     "carries no gradient"),
    (exercises.check_reparameterize, _no_grad_reparameterize, "carries no gradient"),
    (exercises.check_reparameterize,
     lambda mu, logvar, eps: torch.tensor((mu + torch.exp(0.5 * logvar) * eps).tolist()), "carries no gradient"),
    (exercises.check_reparameterize, lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar.detach()) * eps,
     "no gradient reaches logvar"),
    (exercises.check_discriminator_loss,
     lambda real, fake: (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                         + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))).item(),
     "carries no gradient"),
    (exercises.check_non_saturating_generator_loss,
     lambda fake: F.binary_cross_entropy_with_logits(fake.detach(), torch.ones_like(fake)), "carries no gradient"),
    (exercises.check_kl_standard_normal,
     lambda mu, logvar: 0.5 * (logvar.exp() + mu.detach() ** 2 - logvar - 1).sum(-1), "no gradient reaches mu"),
]


@pytest.mark.parametrize("checker, wrong, reason", GRADIENT_MISTAKES)
def test_right_values_without_the_right_gradient_are_rejected_with_the_reason(capsys, checker, wrong, reason):
    ok, line = verdict(capsys, checker, wrong)
    assert ok is False and reason in line, line


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_right_answers_in_any_dtype_keep_passing_with_the_gradient_check(capsys, dtype):
    def reparameterize(mu, logvar, eps):
        return (mu.to(dtype) + torch.exp(logvar.to(dtype) / 2) * eps.to(dtype)).to(mu.dtype)

    ok, line = verdict(capsys, exercises.check_reparameterize, reparameterize)
    assert ok, line
