"""Specification of gengen_lib.exercises: every checker accepts a right answer, names the
mistake in a typical wrong one in a single printed line, and never raises."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
import test_exercises_flow_matching as fm_answers
import torch
import torch.nn.functional as F

from gengen_lib import (
    checking,
    exercises,
    exercises_flow_matching,
    exercises_flows,
    exercises_gan,
    exercises_vae,
    flows,
    gan,
    vae,
)

pytestmark = pytest.mark.math  # make mutation runs these against every mutant (pyproject.toml)

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


# ---- the multi-step exercises' steps, as the notebook's solutions write them -------------


def bernoulli_log_likelihood(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def negative_elbo(logits, x, mu, logvar):
    return -(bernoulli_log_likelihood(logits, x) - kl(mu, logvar)).mean()


def training_step(model, optimizer, x, eps):
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, eps)
    loss = negative_elbo(model.decode(z), x, mu, logvar)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def gaussian_log_prob(x, mean, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / logvar.exp()).sum(dim=-1)


def importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar):
    log_p_x_given_z = gaussian_log_prob(x, z @ W.T + b, noise_logvar)
    log_p_z = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
    log_q_z = gaussian_log_prob(z, q_mean, q_logvar)
    return log_p_x_given_z, log_p_z, log_q_z


def optimal_discriminator(p_data, p_model):
    return p_data / (p_data + p_model)


def discriminator_value(p_data, p_model, d, dx):
    return (p_data * torch.log(d) + p_model * torch.log(1 - d)).sum() * dx


def angle_between(u0, u1):
    cos = (u0 * u1).sum(dim=-1, keepdim=True)
    sin = (u1 - cos * u0).norm(dim=-1)
    return torch.atan2(sin, cos.squeeze(-1))


def robust_slerp(z0, z1, t):
    n0, n1 = z0.norm(), z1.norm()
    norm = (1 - t) * n0 + t * n1
    if n0 == 0 or n1 == 0:
        return (1 - t) * z0 + t * z1
    u0, u1 = z0 / n0, z1 / n1
    omega = angle_between(u0, u1)
    if omega < 1e-6:
        return norm * u0
    w = u1 - (u0 @ u1) * u0
    if w.norm() < 1e-6:  # antiparallel: any axis orthogonal to u0
        axis = torch.zeros_like(u0)
        axis[u0.abs().argmin()] = 1.0
        w = axis - (u0 @ axis) * u0
    w = w / w.norm()
    return norm * (torch.cos(t * omega) * u0 + torch.sin(t * omega) * w)


def coupling_layer(x, mask, net):
    s, t = net(x * mask)
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, ((1 - mask) * s).sum(dim=-1)


def coupling_layer_inverse(y, mask, net):
    s, t = net(y * mask)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s)


def logit_transform(x, alpha):
    p = alpha + (1 - 2 * alpha) * x
    y = torch.log(p) - torch.log(1 - p)
    log_det = (math.log(1 - 2 * alpha) - torch.log(p) - torch.log(1 - p)).sum(dim=-1)
    return y, log_det


def logit_bits_per_dim(x, alpha, base_log_prob):
    y, log_det = logit_transform(x, alpha)
    return bits_per_dim(base_log_prob(y) + log_det)


def library_coupling(mask, s, t) -> flows.AffineCoupling:
    """The library's layer with its conditioner replaced by the given s and t (their free coordinates)."""
    layer = flows.AffineCoupling(mask, hidden=1)
    free = (1 - mask).bool()
    layer.scale_and_shift = lambda _: (s[:, free], t[:, free])
    return layer


REPORT_FAMILIES = {"vae", "gan", "flows"}

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
    "bernoulli_log_likelihood": bernoulli_log_likelihood,
    "negative_elbo": negative_elbo,
    "training_step": training_step,
    "gaussian_log_prob": gaussian_log_prob,
    "importance_terms": importance_terms,
    "optimal_discriminator": optimal_discriminator,
    "discriminator_value": discriminator_value,
    "angle_between": angle_between,
    "robust_slerp": robust_slerp,
    "coupling_layer": coupling_layer,
    "coupling_layer_inverse": coupling_layer_inverse,
    "logit_transform": logit_transform,
    "logit_bits_per_dim": logit_bits_per_dim,
    "flow_matching_target": fm_answers.straight_path,
    "euler_sample": fm_answers.euler,
    "hutchinson_divergence": fm_answers.hutchinson,
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


def on_converted_tensors(solution, convert):
    """``solution`` as a learner might write it: every tensor it is given passes through ``convert`` first
    (``torch.Tensor.double``: computed in float64; ``torch.Tensor.cuda``: on the GPU)."""
    return lambda *args: solution(*(convert(a) if torch.is_tensor(a) else a for a in args))


def verdict(capsys, checker, fn) -> tuple[bool, str]:
    """The checker's verdict and the one line a notebook shows for it; it prints nothing."""
    result = checker(fn)
    assert capsys.readouterr().out == "", "the verdict is the cell's value, not a print"
    message = repr(result)
    assert "\n" not in message and message[0] in "✓✗", f"expected one line, got {message!r}"
    return bool(result), message


# --- every checker accepts right answers --------------------------------------------------------


def test_every_family_has_short_exercises_and_multi_step_ones_that_end_in_a_measured_result():
    assert sorted(exercises.CHECKERS) == sorted(SOLUTIONS), "a learner's solution for every registered function"
    assert sorted(exercises.CHECKERS) == sorted(exercises.SHORT_CHECKERS | exercises.STEP_CHECKERS)
    for family in exercises.SETS:
        assert family.short, family.family
        if family.family in REPORT_FAMILIES:  # beyond the report, short exercises alone are enough
            assert family.steps and family.results, family.family
    assert len({f.family for f in exercises.SETS}) == len(exercises.SETS)
    assert [name for names in exercises.FAMILIES.values() for name in names] == list(exercises.CHECKERS)


def test_the_catalogue_lists_every_exercise_once_with_its_family_checker_points_and_functions():
    entries = exercises.catalogue()
    assert [e.name for e in entries if e.kind != "result"] == list(exercises.CHECKERS), "the notebook's order"
    assert [e.name for e in entries if e.kind == "result"] == list(exercises.RESULT_CHECKERS)
    assert len({e.name for e in entries}) == len(entries)
    families = [e.family for e in entries]
    assert families == sorted(families, key=[s.family for s in exercises.SETS].index), "family by family"
    for e in entries:
        assert e.checker is getattr(exercises, f"check_{e.name}")
        module = {"vae": exercises_vae, "gan": exercises_gan, "flows": exercises_flows,
                  "flow_matching": exercises_flow_matching}[e.family]  # fmt: skip
        assert getattr(module, f"check_{e.name}") is e.checker, f"{e.name} lives in its family's module"
        if e.is_result:  # it runs the learner's steps of the same family
            assert e.points == 2 and e.functions and set(e.functions) <= set(exercises.FAMILIES[e.family])
        else:
            assert e.points == 1 and e.functions == (e.name,)
    assert sum(e.points for e in entries) == len(exercises.CHECKERS) + 2 * len(exercises.RESULT_CHECKERS)


def test_an_unknown_checker_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="check_nothing"):
        exercises.check_nothing  # noqa: B018


@pytest.mark.parametrize("name", list(SOLUTIONS))
def test_the_checker_accepts_the_solution(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], SOLUTIONS[name])
    assert ok and line.startswith(f"✓ {name}: "), line


@pytest.mark.parametrize("name", list(LIBRARY))
def test_the_exercise_agrees_with_the_library(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], LIBRARY[name])
    assert ok, line


# --- typical wrong answers get False and a diagnosis ---------------------------------------------

D = checking.D
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
    # VAE, multi-step
    ("bernoulli_log_likelihood", lambda lg, x: (x * lg.sigmoid().log() + (1 - x) * (1 - lg.sigmoid()).log()).sum(-1),
     "-inf and NaN in 30 of 30 values (log(sigmoid(l)) is log 0 once sigmoid rounds"),
    ("bernoulli_log_likelihood", lambda lg, x: bernoulli_log_likelihood(lg, x) / 784,
     "1/784× the expected ones (a mean over the pixels"),
    ("bernoulli_log_likelihood", lambda lg, x: -F.binary_cross_entropy_with_logits(lg.sigmoid(), x, reduction="none")
     .sum(-1), "the sigmoid is applied twice"),
    ("bernoulli_log_likelihood", lambda lg, x: bernoulli_log_likelihood(lg, 1 - x), "the flipped image"),
    ("bernoulli_log_likelihood", lambda lg, x: -F.binary_cross_entropy_with_logits(lg, x, reduction="none"),
     "got (6, 784) (one value per image: sum over the 784 pixels)"),
    ("negative_elbo", lambda lg, x, mu, lv: -(bernoulli_log_likelihood(lg, x) + kl(mu, lv)).mean(),
     "the KL term has the wrong sign"),
    ("negative_elbo", lambda lg, x, mu, lv: -bernoulli_log_likelihood(lg, x).mean(), "only the reconstruction term"),
    ("negative_elbo", lambda lg, x, mu, lv: -(bernoulli_log_likelihood(lg, x) - kl(mu, lv)).sum(),
     "6× the expected ones (a sum over the batch"),
    ("negative_elbo", lambda lg, x, mu, lv: (bernoulli_log_likelihood(lg, x) - kl(mu, lv)).mean(), "wrong sign"),
    ("negative_elbo", lambda lg, x, mu, lv: -(bernoulli_log_likelihood(lg, x) - kl(mu, lv)),
     "got (6,) (one number for the batch"),
    ("gaussian_log_prob", lambda x, m, lv: gaussian_log_prob(x, m, lv) + 2 * math.log(2 * math.pi),
     "the expected ones + 3.676 (the constant −(D/2) log 2π is missing)"),
    ("gaussian_log_prob", lambda x, m, lv: -0.5 * (math.log(2 * math.pi) + lv + (x - m) ** 2 / (lv / 2).exp())
     .sum(-1), "divides by the standard deviation"),
    ("gaussian_log_prob", lambda x, m, lv: -0.5 * (math.log(2 * math.pi) + (x - m) ** 2 / lv.exp()).sum(-1),
     "the normalising term log σ² is missing"),
    ("gaussian_log_prob", lambda x, m, lv: gaussian_log_prob(x, m, 2 * lv), "treats logvar as log σ"),
    ("gaussian_log_prob", lambda x, m, lv: gaussian_log_prob(x, m, lv).mean(0),
     "got (6,) (reduced over the samples (dim 0)"),
    ("importance_terms", lambda x, z, W, b, nl, qm, ql: _swap_term(importance_terms(x, z, W, b, nl, qm, ql), 0,
     gaussian_log_prob(x, z @ W.T, nl)), "log_p_x_given_z: the decoder's mean is W z + b: the offset b is missing"),
    ("importance_terms", lambda x, z, W, b, nl, qm, ql: _swap_term(importance_terms(x, z, W, b, nl, qm, ql), 1,
     gaussian_log_prob(z, qm, ql)), "log_p_z: the prior is N(0, I)"),
    ("importance_terms", lambda x, z, W, b, nl, qm, ql: _swap_term(importance_terms(x, z, W, b, nl, qm, ql), 2,
     gaussian_log_prob(z, 0 * z, 0 * z)), "log_q_z: this evaluates q's density"),
    ("importance_terms", lambda x, z, W, b, nl, qm, ql: importance_terms(x, z, W.T, b, nl, qm, ql),
     "raised RuntimeError"),
    # GAN, multi-step
    ("optimal_discriminator", lambda pd, pm: pm / (pd + pm), "the probability of 'generated'"),
    ("optimal_discriminator", lambda pd, pm: pd / pm, "the density ratio"),
    ("discriminator_value", lambda pd, pm, d, dx: ((pd + pm) * d.log()).sum() * dx, "uses log D"),
    ("discriminator_value", lambda pd, pm, d, dx: discriminator_value(pm, pd, d, dx), "the densities are swapped"),
    ("discriminator_value", lambda pd, pm, d, dx: discriminator_value(pd, pm, d, 1.0), "20× the expected ones (a "
     "missing dx"),
    ("discriminator_value", lambda pd, pm, d, dx: (pd * d.log() + pm * (1 - d).log()).mean(),
     "a mean over the grid instead of a sum times dx"),
    ("angle_between", lambda u0, u1: torch.arccos((u0 * u1).sum(-1).clamp(-1, 1)), "arccos of the dot product"),
    ("angle_between", lambda u0, u1: torch.arccos((u0.double() * u1.double()).sum(-1).clamp(-1, 1)),
     "(in float64 too: these unit vectors are float32-rounded"),
    ("angle_between", lambda u0, u1: torch.atan2((u1 - (u0 * u1).sum(-1, keepdim=True) * u0), (u0 * u1).sum(-1,
     keepdim=True)), "got (6, 5) (one angle per pair"),
    # flows, multi-step
    ("coupling_layer", lambda x, m, net: _coupling_from(x, m, *net(x)), "y: the network sees the dimensions"),
    ("coupling_layer", lambda x, m, net: coupling_layer(x, 1 - m, net), "y: the mask's roles are swapped"),
    ("coupling_layer", lambda x, m, net: (coupling_layer(x, m, net)[0], net(x * m)[0].sum(-1)),
     "log_det: the log-determinant sums s over all dimensions"),
    ("coupling_layer_inverse", lambda y, m, net: _inverse_from(y, m, *net(y)), "the network must see y * mask"),
    ("coupling_layer_inverse", lambda y, m, net: _inverse_from(y, m, -net(y * m)[0], net(y * m)[1]),
     "this multiplies by exp(s)"),
    ("logit_transform", lambda x, a: (torch.logit(x), logit_transform(x, a)[1]),
     "y: -inf and inf in 10 of 120 values (logit(0) and logit(1) are infinite"),
    ("logit_transform", lambda x, a: (logit_transform(x, a)[0], logit_transform(x, a)[1] - 4 * math.log(1 - 2 * a)),
     "log_det: the log-determinant misses the squeeze's factor"),
    ("logit_transform", lambda x, a: (logit_transform(x, a)[0], 2 * 4 * math.log(1 - 2 * a) - logit_transform(x, a)[1]),
     "log_det: the logit's derivative is 1 / (p (1 − p))"),
    ("logit_transform", lambda x, a: (logit_transform(x, a)[0], -logit_transform(x, a)[1]), "log_det: wrong sign"),
    ("logit_bits_per_dim", lambda x, a, base: bits_per_dim(base(logit_transform(x, a)[0]) - logit_transform(x, a)[1]),
     "the log-determinant is subtracted"),
    ("logit_bits_per_dim", lambda x, a, base: bits_per_dim(base(logit_transform(x, a)[0])),
     "the log-determinant is missing"),
    ("logit_bits_per_dim", lambda x, a, base: bits_per_dim(base(x) + logit_transform(x, a)[1]),
     "the base density is evaluated at x"),
]


def _swap_term(terms, i, value):
    return terms[:i] + (value,) + terms[i + 1 :]


def _coupling_from(x, mask, s, t):
    return mask * x + (1 - mask) * (x * s.exp() + t), ((1 - mask) * s).sum(-1)


def _inverse_from(y, mask, s, t):
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s)


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
    monkeypatch.setattr(exercises_flows.BITS_PER_DIM, "reference", raises)
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
    """Stub cells (``# TODO``) are separate from check cells (``# check``, then one call); each
    check is followed by a folded solution. The stubs fail, the solutions pass, and with every
    solution in place (later ones call earlier ones) each measured result passes too."""
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "04_exercises.ipynb", as_version=4)
    cells = notebook.cells
    assert cells[0].source.startswith("# Exercises\n") and cells[1].metadata.get("tags") == ["parameters"]
    assert notebook.metadata.kernelspec.name == "python3"
    solved = {"math": math, "torch": torch, "F": F, "exercises": exercises, "quick": True}
    checked, results = [], []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not cell.source.startswith("# check"):
            continue
        call = re.fullmatch(r"# check: run this cell, do not edit it\nexercises\.(check_\w+)\((.*)\)", cell.source)
        assert call, f"a check cell is one commented call, got {cell.source!r}"
        if call[1][len("check_"):] not in exercises.CHECKERS:
            results.append(eval(f"exercises.{call[1]}({call[2]})", solved))
            continue
        checker, name = getattr(exercises, call[1]), call[2]
        stub, solution = cells[i - 1], cells[i + 1]
        assert "# TODO" in stub.source and "exercises" not in stub.source
        assert solution.source.startswith("````{admonition} Solution\n:class: dropdown\n")
        answer = re.search(r"```python\n(.*?)```", solution.source, re.S)[1]
        attempt = dict(solved)
        exec(stub.source, attempt)
        assert verdict(capsys, checker, attempt[name])[0] is False, f"the stub of {name} passes"
        exec(answer, solved)
        assert verdict(capsys, checker, solved[name])[0] is True, f"the solution of {name} fails"
        checked.append(name)
    assert checked == list(exercises.CHECKERS)
    assert len(results) == len(exercises.RESULT_CHECKERS)
    assert all(results), [repr(r) for r in results]


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


# --- correct answers written differently pass ------------------------------------------------------


def _robust_slerp_by_rotation(z0, z1, t):
    """Another construction: rotate within the plane of an orthonormal basis from QR, norms by lerp."""
    n0, n1 = z0.norm(), z1.norm()
    if n0 * n1 == 0:
        return torch.lerp(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1
    basis, _ = torch.linalg.qr(torch.stack([u0, u1, torch.eye(len(u0))[u0.abs().argmin()]], dim=1))
    q0, q1 = basis[:, 0] * torch.sign(basis[:, 0] @ u0), basis[:, 1]
    q1 = q1 * (torch.sign(q1 @ u1) if (q1 @ u1).abs() > 1e-6 else 1.0)
    omega = 2 * torch.atan2((u0 - u1).norm(), (u0 + u1).norm())
    return ((1 - t) * n0 + t * n1) * (torch.cos(t * omega) * q0 + torch.sin(t * omega) * q1)


ALTERNATIVES = [
    ("bernoulli_log_likelihood", lambda lg, x: (x * F.logsigmoid(lg) + (1 - x) * F.logsigmoid(-lg)).sum(-1)),
    ("bernoulli_log_likelihood", lambda lg, x: (x * lg - F.softplus(lg)).sum(-1)),
    ("negative_elbo", lambda lg, x, mu, lv: (kl(mu, lv) - bernoulli_log_likelihood(lg, x)).sum() / len(x)),
    ("gaussian_log_prob",
     lambda x, m, lv: torch.distributions.Normal(m, (lv / 2).exp()).log_prob(x).sum(-1)),
    ("importance_terms", lambda x, z, W, b, nl, qm, ql: (
        gaussian_log_prob(x, torch.einsum("dz,knz->knd", W, z) + b, nl),
        torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1),
        gaussian_log_prob(z, qm, ql))),
    ("optimal_discriminator", lambda pd, pm: torch.sigmoid(pd.log() - pm.log())),
    ("discriminator_value", lambda pd, pm, d, dx: dx * (torch.xlogy(pd, d) + torch.xlogy(pm, 1 - d)).sum()),
    ("angle_between", lambda u0, u1: 2 * torch.atan2((u0 - u1).norm(dim=-1), (u0 + u1).norm(dim=-1))),
    ("angle_between", lambda u0, u1: torch.arccos((u0.double() * u1.double()).sum(-1) / (u0.double().norm(dim=-1)
                                                  * u1.double().norm(dim=-1))).float()),
    ("robust_slerp", _robust_slerp_by_rotation),
    ("robust_slerp", gan.slerp),
    ("coupling_layer", lambda x, m, net: (torch.where(m.bool(), x, x * net(x * m)[0].exp() + net(x * m)[1]),
                                          net(x * m)[0][:, ~m.bool()].sum(-1))),
    ("coupling_layer_inverse", lambda y, m, net: torch.where(m.bool(), y, (y - net(y * m)[1]) / net(y * m)[0].exp())),
    ("logit_transform", lambda x, a: (torch.logit(a + (1 - 2 * a) * x),
                                      (math.log(1 - 2 * a) - torch.log(a + (1 - 2 * a) * x)
                                       - torch.log1p(-(a + (1 - 2 * a) * x))).sum(-1))),
    ("logit_bits_per_dim", lambda x, a, base: (784 * 8 * math.log(2) - base(logit_transform(x, a)[0])
                                               - logit_transform(x, a)[1]) / (784 * math.log(2))),
]


@pytest.mark.parametrize(("name", "answer"), ALTERNATIVES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALTERNATIVES)])
def test_a_right_answer_written_differently_passes(capsys, name, answer):
    ok, line = verdict(capsys, exercises.CHECKERS[name], answer)
    assert ok, line


@pytest.mark.parametrize("name", ["bernoulli_log_likelihood", "gaussian_log_prob", "coupling_layer", "logit_transform"])
def test_a_right_answer_computed_in_float64_passes(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], on_converted_tensors(SOLUTIONS[name], torch.Tensor.double))
    assert ok, line


# --- the training step, the slerp's special cases, the measured results ---------------------------


def _step_without(**skip):
    def step(model, optimizer, x, eps):
        mu, logvar = model.encode(x)
        z = mu if skip.get("noise") else reparameterize(mu, logvar, eps)
        loss = negative_elbo(model.decode(z), x, mu, logvar)
        if not skip.get("zero_grad"):
            optimizer.zero_grad()
        (-loss if skip.get("descent") else loss).backward()
        if not skip.get("step"):
            optimizer.step()
        return loss if skip.get("item") else loss.item()

    return step


@pytest.mark.parametrize(
    ("step", "diagnosis"),
    [
        (_step_without(step=True), "the parameters did not change: call optimizer.step()"),
        (_step_without(zero_grad=True), "call optimizer.zero_grad() before loss.backward()"),
        (_step_without(descent=True), "the parameters moved uphill"),
        (_step_without(noise=True), "the decoder got mu instead of a sample"),
        (lambda model, optimizer, x, eps: "loss", "returned a str; return the loss as a number"),
        (lambda model, optimizer, x, eps: training_step(model, optimizer, x, eps) * 2, "return the loss"),
        (raises, "raised KeyError"),
    ],
    ids=["no-step", "no-zero-grad", "ascent", "no-noise", "str", "wrong-loss", "raises"],
)
def test_a_wrong_training_step_is_named(capsys, step, diagnosis):
    ok, line = verdict(capsys, exercises.check_training_step, step)
    assert not ok and diagnosis in line, line


def test_a_training_step_returning_the_loss_tensor_passes(capsys):
    ok, line = verdict(capsys, exercises.check_training_step, _step_without(item=True))
    assert ok, line


def _slerp_for_nonzero_codes(z0, z1, t):
    return gan.slerp(z0, z1, t) if z0.norm() * z1.norm() > 0 else torch.full_like(z0, math.nan)


def _slerp_without_antiparallel(z0, z1, t):
    if z0.norm() * z1.norm() == 0:
        return (1 - t) * z0 + t * z1
    omega = angle_between(z0 / z0.norm(), z1 / z1.norm())
    if omega < 1e-6:
        return ((1 - t) * z0.norm() + t * z1.norm()) * z0 / z0.norm()
    return slerp(z0, z1, t)


@pytest.mark.parametrize(
    ("answer", "diagnosis"),
    [
        (slerp, "parallel codes (z1 = 3 z0): NaN or inf at t = 0 (sin Ω is 0 or nearly"),
        (_slerp_without_antiparallel, "antiparallel codes (z1 = −2 z0): "),
        (_slerp_for_nonzero_codes, "a zero start: NaN or inf at t = 0 (a zero vector has no direction"),
        (gan.lerp, "two ordinary codes: the norm is not (1 − t)|z0| + t|z1|"),
        (lambda z0, z1, t: gan.slerp(z0, z1, 1 - t), "t = 0 must give z0 and t = 1 give z1"),
        (lambda z0, z1, t: gan.slerp(z0 / z0.norm(), z1 / z1.norm(), t**2) * ((1 - t) * z0.norm() + t * z1.norm()),
         "does not turn along one great circle at constant speed"),
        (lambda z0, z1, t: gan.slerp(z0, z1, t)[None], "expected shape (5,), got (1, 5)"),
    ],
    ids=["plain-slerp", "no-antiparallel", "no-zero", "lerp", "backwards", "uneven-speed", "shape"],
)
def test_a_slerp_that_misses_a_special_case_is_told_which(capsys, answer, diagnosis):
    ok, line = verdict(capsys, exercises.check_robust_slerp, answer)
    assert not ok and diagnosis in line, line


@pytest.fixture(scope="module")
def results():
    """Every measured result with the solutions, computed once (the tiny VAE in quick mode)."""
    return {
        "tiny_vae": exercises.check_tiny_vae(training_step, quick=True),
        "linear_gaussian_log_likelihood": exercises.check_linear_gaussian_log_likelihood(
            gaussian_log_prob, importance_terms, importance_log_likelihood),
        "jensen_shannon": exercises.check_jensen_shannon(optimal_discriminator, discriminator_value),
        "coupling_log_det": exercises.check_coupling_log_det(coupling_layer, coupling_layer_inverse),
        "logit_flow_result": exercises.check_logit_flow_result(logit_transform, logit_bits_per_dim),
    }


def test_every_multi_step_exercise_ends_in_a_measured_result(results):
    assert list(results) == list(exercises.RESULT_CHECKERS)
    for name, result in results.items():
        assert result and repr(result).startswith(f"✓ {name}: "), repr(result)
        assert re.search(r"\d(\.\d|e-\d)", repr(result)), f"{name} reports a number"


def test_the_measured_results_say_what_they_measured(results):
    assert "target above -190" in repr(results["tiny_vae"])
    assert "target within 0.1" in repr(results["linear_gaussian_log_likelihood"])
    assert "0.0000, " in repr(results["jensen_shannon"]), "identical distributions: JS = 0"
    assert f"= {8 - math.log2(0.9):.4f}" in repr(results["logit_flow_result"])


@pytest.mark.parametrize(
    ("checker", "steps", "diagnosis"),
    [
        (exercises.check_tiny_vae, [_step_without(step=True)], "first make step training_step pass: the parameters"),
        (exercises.check_linear_gaussian_log_likelihood,
         [gaussian_log_prob, importance_terms, lambda a, b, c: (a + b - c).mean(0)],
         "first make step importance_log_likelihood pass: this averages the log-weights"),
        (exercises.check_jensen_shannon, [optimal_discriminator, lambda pd, pm, d, dx: 0 * d.sum()],
         "first make step discriminator_value pass: returns only zeros"),
        (exercises.check_coupling_log_det, [lambda x, m, net: _coupling_from(x, m, *net(x)), coupling_layer_inverse],
         "first make step coupling_layer pass: y: the network sees the dimensions it transforms"),
        (exercises.check_logit_flow_result, [logit_transform, lambda x, a, base: torch.zeros(len(x))],
         "first make step logit_bits_per_dim pass: returns only zeros"),
    ],
    ids=["tiny-vae", "linear-gaussian", "js", "coupling", "logit"],
)
def test_a_result_first_names_the_step_to_fix(capsys, checker, steps, diagnosis):
    ok, line = verdict(capsys, lambda fn: checker(*fn), steps)
    assert not ok and diagnosis in line, line


def test_a_result_that_raises_while_measuring_is_reported(capsys):
    def breaks_on_float64(*args):
        if args[0].dtype == torch.float64 and len(args[0]) == 4:
            raise ValueError("no float64 here")
        return coupling_layer(*args)

    ok, line = verdict(capsys, lambda fn: exercises.check_coupling_log_det(fn, coupling_layer_inverse),
                       breaks_on_float64)
    assert not ok and "raised ValueError: no float64 here while measuring the result" in line


# --- the references against independent formulas --------------------------------------------------


def test_bernoulli_reference_is_the_textbook_formula_where_it_is_stable():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 784, generator=g, dtype=torch.float64)
    x = (torch.rand(5, 784, generator=g) < 0.4).double()
    p = torch.sigmoid(logits)
    expected = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
    assert torch.allclose(exercises_vae.BERNOULLI_LOG_LIKELIHOOD.reference(logits, x), expected)


def test_gaussian_reference_is_torch_distributions_normal():
    case = exercises_vae.GAUSSIAN_LOG_PROB.make_inputs(torch.Generator().manual_seed(2))
    x, mean, logvar = case["x"], case["mean"], case["logvar"]
    expected = torch.distributions.Normal(mean, torch.exp(logvar / 2)).log_prob(x).sum(-1)
    assert torch.allclose(exercises_vae.GAUSSIAN_LOG_PROB.reference(x, mean, logvar), expected, atol=1e-5)


def test_the_exact_linear_gaussian_likelihood_and_posterior_agree_with_quadrature():
    g = torch.Generator().manual_seed(3)
    model = exercises_vae.LinearGaussian.random(g)
    x = model.sample(3, g)
    step = 0.02
    axis = torch.arange(-8, 8, step, dtype=torch.float64)
    z = torch.cartesian_prod(axis, axis)  # (M, 2)
    mean = z @ model.W.T + model.b
    log_joint = (torch.distributions.Normal(mean[:, None], model.noise_var.sqrt()).log_prob(x).sum(-1)
                 + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)[:, None])  # (M, 3)
    log_marginal = torch.logsumexp(log_joint, 0) + 2 * math.log(step)
    assert torch.allclose(model.log_marginal(x), log_marginal, atol=1e-6)
    posterior = torch.softmax(log_joint, 0)
    posterior_mean = posterior.T @ z
    centred = z[None] - posterior_mean[:, None]  # (3, M, 2)
    posterior_cov = torch.einsum("nm,nmi,nmj->nij", posterior.T, centred, centred)
    mean, cov = model.posterior(x)
    assert torch.allclose(mean, posterior_mean, atol=1e-6)
    assert torch.allclose(cov.expand(3, 2, 2), posterior_cov, atol=1e-6)


def test_js_quadrature_against_the_entropy_of_the_mixture():
    """JS(p, q) = H((p + q) / 2) - (H(p) + H(q)) / 2, with H(N(mu, 1)) = log(2 pi e) / 2 in closed form."""
    dx = 1e-3
    x = torch.arange(-15, 35, dx, dtype=torch.float64)
    gaussian_density = exercises_gan.gaussian_density
    jensen_shannon_by_quadrature = exercises_gan.jensen_shannon_by_quadrature
    p, q = gaussian_density(x, 0.0), gaussian_density(x, 2.0)
    m = (p + q) / 2
    mixture_entropy = -(torch.xlogy(m, m) * dx).sum().item()
    expected = mixture_entropy - 0.5 * math.log(2 * math.pi * math.e)
    assert math.isclose(jensen_shannon_by_quadrature(p, q, dx), expected, abs_tol=1e-9)
    assert jensen_shannon_by_quadrature(p, p, dx) == 0.0
    far = gaussian_density(x, 16.0)
    assert math.isclose(jensen_shannon_by_quadrature(p, far, dx), math.log(2), abs_tol=1e-6)


def test_angle_reference_recovers_the_angles_the_inputs_were_built_with():
    ANGLE_BETWEEN = exercises_gan.ANGLE_BETWEEN
    case = ANGLE_BETWEEN.make_inputs(torch.Generator().manual_seed(4))
    built = torch.tensor([1e-4, 1e-3, 0.7, 2.0, math.pi - 1e-3, math.pi - 1e-4])
    angle = ANGLE_BETWEEN.reference(case["u0"], case["u1"]).double()
    assert torch.allclose(angle, built.double(), rtol=1e-3, atol=2e-7)  # float32 rounding of the vectors


def test_coupling_and_logit_references_have_autograd_log_determinants():
    COUPLING_LAYER, LOGIT_TRANSFORM = exercises_flows.COUPLING_LAYER, exercises_flows.LOGIT_TRANSFORM
    case = COUPLING_LAYER.make_inputs(torch.Generator().manual_seed(5))
    mask, net = case["mask"].double(), case["net"]
    for point in case["x"].double():
        jacobian = torch.autograd.functional.jacobian(lambda v: COUPLING_LAYER.reference(v[None], mask, net)[0][0],
                                                      point)
        log_det = COUPLING_LAYER.reference(point[None], mask, net)[1][0]
        assert torch.allclose(torch.linalg.slogdet(jacobian).logabsdet, log_det)
    x = LOGIT_TRANSFORM.make_inputs(torch.Generator().manual_seed(6))["x"].double().requires_grad_(True)
    y, log_det = LOGIT_TRANSFORM.reference(x, 0.05)
    (derivative,) = torch.autograd.grad(y.sum(), x)  # elementwise map: the Jacobian is diagonal
    assert torch.allclose(derivative.log().sum(-1), log_det.detach())


def test_a_logistic_base_makes_the_dequantized_pixels_uniform():
    """Independent of the logit code: under a logistic base density, the pixels x are uniform on
    [0, 1] up to the squeeze, so log p(x) = D log(1 - 2 alpha) and bits/dim = 8 - log2(1 - 2 alpha)."""
    a = 0.05
    x = torch.rand(3, 784, dtype=torch.float64)
    y = torch.log(a + (1 - 2 * a) * x) - torch.log(1 - a - (1 - 2 * a) * x)
    p = a + (1 - 2 * a) * x
    log_p = exercises_flows.logistic_log_prob(y) + torch.log((1 - 2 * a) / (p * (1 - p))).sum(-1)
    assert torch.allclose(log_p, torch.full((3,), 784 * math.log(1 - 2 * a), dtype=torch.float64))


# --- gradients of the new steps ---------------------------------------------------------------------


NEW_GRADIENT_MISTAKES = [
    (exercises.check_negative_elbo, lambda lg, x, mu, lv: negative_elbo(lg, x, mu, lv).item(), "carries no gradient"),
    (exercises.check_negative_elbo, lambda lg, x, mu, lv: negative_elbo(lg, x, mu.detach(), lv),
     "no gradient reaches mu"),
    (exercises.check_coupling_layer, lambda x, m, net: _coupling_from(x, m, *(v.detach() for v in net(x * m))),
     "the gradient with respect to x is not"),
    (exercises.check_logit_transform, lambda x, a: (logit_transform(x, a)[0], logit_transform(x.detach(), a)[1]),
     "the gradient with respect to x is not"),
    (exercises.check_logit_bits_per_dim, lambda x, a, base: logit_bits_per_dim(x, a, base).detach(),
     "carries no gradient"),
]


@pytest.mark.parametrize("checker, wrong, reason", NEW_GRADIENT_MISTAKES)
def test_a_new_step_with_the_wrong_gradient_is_rejected_with_the_reason(capsys, checker, wrong, reason):
    ok, line = verdict(capsys, checker, wrong)
    assert ok is False and reason in line, line


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", ["reparameterize", "negative_elbo", "coupling_layer", "logit_transform",
                                  "robust_slerp"])
def test_a_right_answer_computed_on_the_gpu_passes(capsys, name):
    ok, line = verdict(capsys, exercises.CHECKERS[name], on_converted_tensors(SOLUTIONS[name], torch.Tensor.cuda))
    assert ok, line


def test_the_reference_results_pass_and_are_what_the_learner_aims_at(results):
    lines = exercises.reference_results(quick=True).splitlines()
    assert len(lines) == len(exercises.RESULT_CHECKERS)
    for line, (name, result) in zip(lines, results.items(), strict=True):
        assert line.startswith(f"✓ {name}: ")
        if name != "tiny_vae":  # deterministic: the solutions and the references measure the same numbers
            assert line == repr(result)


# --- a result is measured, not assumed: steps that pass their checks can still miss it ------------


def _lazy_step(model, optimizer, x, eps):
    """Right on the checker's small model (D = 4), idle on the model the result trains."""
    return training_step(model, optimizer, x, eps) if model.z_dim == D else 0.0


def _elbo_when_k_is_large(log_p_x_given_z, log_p_z, log_q_z):
    log_w = log_p_x_given_z + log_p_z - log_q_z
    return log_w.mean(0) if len(log_w) > 7 else importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z)


@pytest.mark.parametrize(
    ("checker", "steps", "diagnosis"),
    [
        (lambda step: exercises.check_tiny_vae(step, quick=True), [_lazy_step], "target above -190"),
        (exercises.check_linear_gaussian_log_likelihood, [gaussian_log_prob, importance_terms, _elbo_when_k_is_large],
         "target within 0.1"),
        (exercises.check_jensen_shannon,
         [optimal_discriminator, lambda pd, pm, d, dx: discriminator_value(pd, pm, d, dx) * (1 + (len(d) > 6))],
         "but a direct quadrature differs by"),
        (exercises.check_coupling_log_det,
         [lambda x, m, net: coupling_layer(x, m, net) if len(m) == D else (x, torch.zeros(len(x))),
          coupling_layer_inverse], "match autograd's slogdet"),
        (exercises.check_logit_flow_result,
         [logit_transform, lambda x, a, base: logit_bits_per_dim(x, a, base) + 0.01 * (len(x) > 6)],
         "a logistic base scores 8.1620 bits/dim"),
    ],
    ids=["tiny-vae", "linear-gaussian", "js", "coupling", "logit"],
)
def test_a_result_that_misses_its_target_fails_and_shows_the_number(capsys, checker, steps, diagnosis):
    ok, line = verdict(capsys, lambda fn: checker(*fn), steps)
    assert not ok and diagnosis in line, line


def test_negative_elbo_reference_is_the_textbook_formula():
    case = exercises_vae.NEGATIVE_ELBO.make_inputs(torch.Generator().manual_seed(7))
    logits, x, mu, logvar = (case[k].double() for k in ("logits", "x", "mu", "logvar"))
    p = torch.sigmoid(logits)
    reconstruction = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    kl_term = 0.5 * (logvar.exp() + mu**2 - logvar - 1).sum(-1)
    expected = (kl_term - reconstruction).mean()
    assert torch.allclose(exercises_vae.NEGATIVE_ELBO.reference(logits, x, mu, logvar), expected)


def test_the_optimal_discriminator_maximises_the_value_pointwise():
    case = exercises_gan.OPTIMAL_DISCRIMINATOR.make_inputs(torch.Generator().manual_seed(8))
    p_data, p_model = case["p_data"].double(), case["p_model"].double()
    d = exercises_gan.OPTIMAL_DISCRIMINATOR.reference(p_data, p_model).requires_grad_(True)
    value = (p_data * d.log() + p_model * (1 - d).log()).sum()
    (gradient,) = torch.autograd.grad(value, d)
    assert torch.allclose(gradient, torch.zeros_like(gradient), atol=1e-12), "a stationary point"
    assert torch.all(value > (p_data * (0.9 * d).log() + p_model * (1 - 0.9 * d).log()).sum())


def test_the_reference_training_step_is_one_adam_step_on_the_explicit_loss():
    """Adam's first step from fresh state moves each parameter by lr * g / (|g| + eps), about lr * sign(g)."""
    torch.manual_seed(0)
    model = vae.VAE(z_dim=3, hidden=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = (torch.rand(5, 784) < 0.3).float()
    eps = torch.randn(5, 3)
    before = [p.detach().clone() for p in model.parameters()]
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * eps
    p = torch.sigmoid(model.decode(z))
    loss = (0.5 * (logvar.exp() + mu**2 - logvar - 1).sum(-1)
            - (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    returned = exercises_vae.reference_training_step(model, optimizer, x, eps)
    assert math.isclose(returned, loss.item(), rel_tol=1e-5)
    for p0, g, p1 in zip(before, grads, model.parameters(), strict=True):
        assert torch.allclose(p1.detach(), p0 - 1e-2 * g / (g.abs() + 1e-8), atol=1e-6)
