# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Flow matching: a flow in continuous time
#
# *Beyond the report.* Chapter 3 built a density model from a stack of invertible couplings
# and paid for exactness with a rigid architecture: every layer had to be invertible with a
# triangular Jacobian. This chapter lets the stack become infinitely deep and each layer
# infinitely thin. The flow is then an ordinary differential equation, any network can
# define its velocity, and a remarkably simple regression, **flow matching**, trains it
# without ever solving the equation. Its Gaussian special case is the diffusion model. The
# questions FM.1–FM.8 are ours; the model is measured in the units of chapters 2 and 3
# (bits per dimension, MNIST-FID), on the same data.
#
# **Convention:** time runs from noise to data. At $t = 0$ a point is a standard normal draw
# $x_0$; at $t = 1$ it is an image $x_1$. The network $v_\theta(x, t)$ is a *velocity*:
# $\mathrm{d}x/\mathrm{d}t = v_\theta(x, t)$.

# %% tags=["parameters"]
# Parameters (papermill: -p quick True, or set GENGEN_QUICK=1)
quick = False
pretrained = True  # the shipped model in weights/; False trains it (about an hour and a half on two CPU cores)
seed = 0

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
from myst_nb import glue

from gengen_lib import alt_text, data, flow_matching as fm, flow_matching_figures as fmfig, flows, plots
from gengen_lib import pretrained as shipped, runtime, toy

runtime.check_flags(pretrained=pretrained)
quick, device = runtime.notebook_setup(quick, seed)

# %% [markdown]
# (fm-1)=
# ## FM.1 From a stack of couplings to an ODE
#
# A residual layer $h \mapsto h + \varepsilon\, v(h, t)$ is invertible when $\varepsilon$ is
# small enough, and its Jacobian is $I + \varepsilon J$ with $J = \partial v / \partial h$.
# Its log-determinant expands as
#
# $$
# \log \lvert \det (I + \varepsilon J) \rvert = \varepsilon \operatorname{tr} J + O(\varepsilon^2),
# $$
#
# because the determinant is the product of the eigenvalues $1 + \varepsilon\lambda_i$ and
# $\log(1 + \varepsilon\lambda_i) = \varepsilon\lambda_i + O(\varepsilon^2)$. Stack $N$ such
# layers with $\varepsilon = 1/N$ at times $t_k = k/N$. As $N \to \infty$ the stack becomes
# the ODE $\mathrm{d}x/\mathrm{d}t = v(x, t)$, and the sum of log-determinants becomes an
# integral of the trace, the **divergence** $\nabla\!\cdot v = \operatorname{tr} J$. Chapter
# 3's change of variables turns into the *instantaneous* change of variables
#
# $$
# \frac{\mathrm{d}}{\mathrm{d}t} \log p_t(x_t) = -\nabla\!\cdot v(x_t, t),
# \qquad
# \log p_1(x_1) = \log \mathcal{N}(x_0; 0, I) - \int_0^1 \nabla\!\cdot v(x_t, t)\,\mathrm{d}t .
# $$
#
# No triangular structure is needed any more: only a trace, which in two dimensions costs two
# backward passes. We check the limit on chapter 3's two-moons data with a velocity field
# trained as section FM.3 explains: $N$ Euler layers with their exact $2\times2$
# log-determinants, against the ODE's integral of the exact trace.

# %%
moons_settings = toy.ToyFlowMatchingSettings.for_mode(quick)  # 8,000 points, 150 epochs (quick: 2,000, 3)
moons_model, moons_history = shipped.load_or_train("toy-flow-matching", moons_settings, pretrained=pretrained, quiet=True)
v = copy.deepcopy(moons_model.velocity).double()  # a float64 copy for tight comparisons
points = toy.two_moons(4, generator=torch.Generator().manual_seed(seed + 1)).double()


def stacked_euler_log_det(x, n_layers):
    """Run x backwards through n Euler layers (data -> noise) and add up each layer's exact log|det|."""
    total = torch.zeros(len(x), dtype=x.dtype)
    for k in range(n_layers, 0, -1):
        t = torch.full((1,), k / n_layers, dtype=x.dtype)

        def layer(y, t=t):  # the inverse-time step of a residual layer
            return y - v(y, t.expand(len(y))) / n_layers

        jac = torch.func.vmap(torch.func.jacrev(lambda p: layer(p[None])[0]))(x)  # (n, 2, 2), one per point
        total += torch.linalg.slogdet(jac)[1]
        x = layer(x).detach()
    return x, total


ode_log_p, _ = fm.ode_log_prob(v, points, exact=True, rtol=1e-9, atol=1e-9)
print("layers N   log p(x) from N residual layers, 4 points            largest gap to the ODE")
for n_layers in (4, 16, 64, 256):
    x0, log_det = stacked_euler_log_det(points, n_layers)
    log_p = fm.standard_normal_log_prob(x0) + log_det
    print(f"{n_layers:>8}   {'  '.join(f'{value:7.3f}' for value in log_p.tolist())}   "
          f"{(log_p - ode_log_p).abs().max().item():.1e}")
print(f"     ODE   {'  '.join(f'{value:7.3f}' for value in ode_log_p.tolist())}")

# %% [markdown]
# The gap shrinks about fourfold each time $N$ grows fourfold: first order in
# $\varepsilon = 1/N$, as the Euler discretisation predicts. The continuous flow is the limit
# of residual flows, and its likelihood needs no special architecture.
#
# (fm-2)=
# ## FM.2 Why not maximum likelihood, and what flow matching does instead
#
# Training this ODE by maximum likelihood (the FFJORD recipe) means, for every batch, solving
# the augmented ODE for $[x_t, \log p_t]$ with an adaptive solver, estimating a trace at every
# step, and back-propagating through the whole solve. The cost grows with the number of
# solver steps, which itself grows as the flow learns sharper dynamics. Even our 2-d flow
# needs dozens of velocity evaluations, each with a trace, for *one* likelihood:

# %%
start = time.perf_counter()
_, nfe = fm.ode_log_prob(v, toy.two_moons(256, generator=torch.Generator().manual_seed(2)).double(), exact=True)
print(f"one log-likelihood of 256 points: {nfe} velocity evaluations (adaptive dopri5), each with an exact trace")

# %% [markdown]
# **Flow matching** avoids the solve. Pick a *probability path* $p_t$ from the noise
# $p_0 = \mathcal{N}(0, I)$ to the data $p_1$, built from simple conditional paths: for one
# data point $x_1$, the straight line
#
# $$
# x_t = (1 - t)\, x_0 + t\, x_1, \qquad x_0 \sim \mathcal{N}(0, I),
# $$
#
# moves at the constant **conditional velocity** $u_t(x_t \mid x_1) = x_1 - x_0$. Averaged
# over all pairs that pass through a point $x$ at time $t$, these velocities give the
# **marginal velocity** $u_t(x) = \mathbb{E}[x_1 - x_0 \mid x_t = x]$, and the ODE with this
# velocity carries $p_0$ exactly onto $p_1$ (the continuity equation holds pair by pair, and
# it is linear, so it holds for the average). We would like to regress
# $v_\theta$ on $u_t$, but $u_t$ is an expectation over the whole data set. The
# **conditional flow-matching loss** regresses on the per-pair velocity instead:
#
# $$
# \mathcal{L}_{\mathrm{CFM}}(\theta) = \mathbb{E}_{t \sim U[0,1],\, x_0,\, x_1}
# \big\lVert v_\theta(x_t, t) - (x_1 - x_0) \big\rVert^2 .
# $$
#
# **Why that is enough.** Expand both squares. The marginal loss
# $\mathbb{E}\lVert v_\theta(x_t, t) - u_t(x_t)\rVert^2$ and the conditional one share the
# term $\mathbb{E}\lVert v_\theta\rVert^2$. Their cross terms agree, because $x_1 - x_0$
# differs from $u_t(x_t)$ by noise with mean zero given $x_t$:
# $\mathbb{E}[v_\theta(x_t, t)^\top (x_1 - x_0)] = \mathbb{E}[v_\theta(x_t, t)^\top\,
# \mathbb{E}[x_1 - x_0 \mid x_t]] = \mathbb{E}[v_\theta(x_t, t)^\top u_t(x_t)]$. What is left,
# $\mathbb{E}\lVert x_1 - x_0\rVert^2 - \mathbb{E}\lVert u_t(x_t)\rVert^2$, does not depend on
# $\theta$. So the two losses differ by a constant and have the **same gradient**: an
# unbiased, solver-free, simulation-free training signal.
#
# We can check this where $u_t$ is known exactly. For a mixture of Gaussians
# $p_1 = \sum_k \pi_k \mathcal{N}(\mu_k, \sigma^2 I)$, each component travels as
# $\mathcal{N}(t\mu_k, s_t^2 I)$ with $s_t^2 = (1-t)^2 + t^2\sigma^2$, and Gaussian
# conditioning gives
#
# $$
# u_t(x) = \sum_k w_k(x)\Big[\mu_k + \frac{t\sigma^2 - (1 - t)}{s_t^2}\,(x - t\mu_k)\Big],
# \qquad w_k(x) \propto \pi_k\, \mathcal{N}(x; t\mu_k, s_t^2 I).
# $$
#
# On the same draws, the gradient of each loss with respect to a small network's weights:

# %%
mixture = fm.GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype=torch.float64), 0.3,
                             torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))  # fmt: skip
g = torch.Generator().manual_seed(seed)
n_pairs = 200_000
x1 = mixture.sample(n_pairs, g)
x0 = torch.randn(n_pairs, 2, generator=g, dtype=torch.float64)
t = torch.rand(n_pairs, generator=g, dtype=torch.float64)
xt, conditional_target = fm.straight_path(x0, x1, t)
marginal_target = mixture.marginal_velocity(xt, t)
torch.manual_seed(seed)
net = fm.MLPVelocity(2, 32).double()


def loss_gradient(target):
    net.zero_grad()
    (net(xt, t) - target).pow(2).sum(-1).mean().backward()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


g_marginal, g_conditional = loss_gradient(marginal_target), loss_gradient(conditional_target)
g_reversed = loss_gradient(-conditional_target)
relative = lambda a: ((a - g_marginal).norm() / g_marginal.norm()).item()
print(f"{sum(p.numel() for p in net.parameters())} weights, {n_pairs:,} draws")
print(f"|grad CFM - grad marginal| / |grad marginal|            = {relative(g_conditional):.3f}")
print(f"the same with the wrong target x0 - x1 (for comparison) = {relative(g_reversed):.3f}")
with torch.no_grad():
    gap = ((net(xt, t) - conditional_target).pow(2).sum(-1) - (net(xt, t) - marginal_target).pow(2).sum(-1)).mean()
    constant = (conditional_target.pow(2).sum(-1) - marginal_target.pow(2).sum(-1)).mean()
print(f"loss_CFM - loss_marginal = {gap.item():.3f};  E|x1 - x0|^2 - E|u_t(x_t)|^2 = {constant.item():.3f}")

# %% [markdown]
# The two gradients agree up to the Monte Carlo noise of the draws, and the two losses differ
# by exactly the $\theta$-free constant of the derivation.
#
# (fm-3)=
# ## FM.3 Two moons in seconds
#
# The flow of FM.1 was trained by exactly this regression: an MLP with three hidden layers of 128 units,
# $(x, \text{features of } t) \mapsto v$, on the 8,000 two-moons points of chapter 3, with an
# exponential moving average of the weights used for sampling (standard practice; it
# smooths the last steps of training). The course ships it (`weights/flow-matching-moons`);
# with `pretrained = False` this notebook trains it again, which takes about twenty seconds.
# The [flow-matching explorer](../book/fm_explorer.md) runs the same model in your browser:
# move $t$, change the solver, and watch the particles and the density.

# %%
print(f"{len(moons_history.epochs)} epochs, {len(moons_history.steps['loss'])} steps in {moons_history.seconds:.1f} s; "
      f"loss {moons_history.epochs[0]['loss']:.3f} -> {moons_history.epochs[-1]['loss']:.3f}")
test_moons = toy.two_moons(2000, generator=torch.Generator().manual_seed(3))
moons_log_p, _ = fm.ode_log_prob(moons_model.velocity, test_moons, exact=True, rtol=1e-6, atol=1e-6)
print(f"held-out log-likelihood: {moons_log_p.mean().item():.2f} nats per point (exact trace, dopri5)")

# %% [markdown]
# The loss does not go to zero, and should not: the conditional target $x_1 - x_0$ is noisy
# around $u_t$, and the remaining constant is that noise. Below, 2,000 noise particles
# (coloured by where they started) are carried along the learned ODE from $t = 0$ to
# $t = 1$; underneath, the density $p_t$ at the same times, from the instantaneous change of
# variables solved back from $t$ to 0.

# %% tags=["hide-input"]
times = [0.0, 0.25, 0.5, 0.75, 1.0]
fig = fmfig.particles_along_t(moons_model, 2000, times)
plots.glue_figure("fig-fm-particles", fig)
fig = fmfig.density_along_t(moons_model, times)
plots.glue_figure("fig-fm-density", fig)

# %% [markdown]
# ```{glue:figure} fig-fm-particles
# :name: fig-fm-particles
# Noise particles carried by the learned velocity field, at five times.
# ```
#
# ```{glue:figure} fig-fm-density
# :name: fig-fm-density
# The density $p_t$ of the learned flow at the same five times (log-densities from the ODE,
# exact divergence).
# ```
#
# The paths are nearly straight and the mass splits into the two moons early: the marginal
# velocity of straight conditional paths is itself close to straight where the paths do not
# cross.
#
# Look closely at $t = 0.25$ and $0.5$: two faint parallel stripes run through the blob. They
# are the model's, not the solver's (rk4 with 16 or 64 steps and dopri5 at a tolerance of
# $10^{-6}$ draw the same stripes). The true $p_{0.25}$ cannot have them: it is the data,
# shrunk to a quarter of its size, blurred by a Gaussian of standard deviation 0.75, far wider
# than the stripes. So they show where the learned velocity departs from the marginal one. The
# loss, an average over the whole path, barely notices; a likelihood computed through the
# whole ODE carries every such error.
#
# (fm-4)=
# ## FM.4 MNIST: the velocity network and the data space
#
# **Data space.** To compare likelihoods with chapter 3, the flow models the same object:
# dequantized images $u = (k + \text{uniform noise})/256 \in [0, 1]^{784}$. Like the
# RealNVP, it first maps them to the real line with the logit step
# $y = \operatorname{logit}(\alpha + (1 - 2\alpha) u)$, here with $\alpha = 0.05$, so the
# data lie in about $[-2.9, 2.9]$, on the scale of the noise; the logit's log-determinant is
# added to $\log p(y)$ exactly as in chapter 3, and the bits per dimension follow with the
# same $784 \ln 256$ term.
#
# **Velocity network.** The velocity is a function from images to images, and it should
# treat a stroke in one corner as it treats the same stroke in another. A convolutional
# **U-Net** does: two resolutions below the input ($28 \to 14 \to 7$), residual blocks with
# group normalisation, the time fed into every block through sinusoidal features, and skip
# connections that carry the fine detail past the bottleneck. A plain MLP on 784 inputs has
# to learn each position separately: its first layer alone, at the width of chapter 3's
# couplings, has more weights than this whole U-Net.

# %%
settings = fm.FlowMatchingSettings.for_mode(quick)
model, history = shipped.load_or_train("flow_matching", settings, pretrained=pretrained, device=device, quiet=quick)
n_weights = sum(p.numel() for p in model.net.parameters())
print(f"U-Net with {settings.channels} and {2 * settings.channels} channels: {n_weights:,} weights")
print(f"an MLP's first layer at width 1024 alone: {784 * 1024 + 1024:,} weights")
print(f"trained for {len(history.epochs)} epochs of {data.load_mnist('train').subset(settings.train_subset).images.shape[0]:,} "
      f"images, batch {settings.batch_size}, Adam {settings.lr:g}, weight average {settings.ema_decay}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(plots.COLUMN_INCHES, 3.4), layout="constrained")
plots.plot_curves(ax, {"training loss (per pixel)": history.curve("loss"),
                       "validation loss, running average of the weights": history.curve("valid_loss")},
                  ylabel="flow-matching loss per pixel")  # fmt: skip
ax.get_legend().remove()
fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2)  # below: it hides no point
alt_text.describe(fig, f"Two curves against the epoch: the conditional flow-matching loss per pixel on the training "
                  f"batches ({history.curve('loss')[0]:.3f} after epoch 1, {history.curve('loss')[-1]:.3f} after epoch "
                  f"{len(history.epochs)}) and on validation images with the running average of the weights "
                  f"({history.curve('valid_loss')[0]:.3f} to {history.curve('valid_loss')[-1]:.3f}), which starts "
                  "high because the average still leans on the initial weights.")  # fmt: skip
plots.glue_figure("fig-fm-loss", fig)
fig = plots.show_snapshots(history, finding="Noise at the start; digit-like strokes by the end.")
plots.glue_figure("fig-fm-snapshots", fig)

# %% [markdown]
# ```{glue:figure} fig-fm-loss
# :name: fig-fm-loss
# The conditional flow-matching loss per pixel, on the training batches and on held-out
# validation images (the averaged weights).
# ```
#
# ```{glue:figure} fig-fm-snapshots
# :name: fig-fm-snapshots
# Samples from the same noise before training (the velocity is zero, so the noise passes
# through the logit's inverse unchanged), halfway and at the end (20 midpoint steps).
# ```
#
# (fm-5)=
# ## FM.5 Sampling: how many steps?
#
# Sampling solves $\mathrm{d}x/\mathrm{d}t = v_\theta(x, t)$ from $t = 0$ to 1. **Euler**
# takes $x \leftarrow x + h\, v(x, t)$ (one velocity evaluation per step, error $O(h)$);
# **midpoint** evaluates again halfway along the Euler step and uses that slope (two
# evaluations, error $O(h^2)$); **dopri5** adapts its step to a tolerance (six evaluations per
# step, and it chooses how many steps). The same 16 noise draws, solved four ways:

# %%
def timed_samples(**solver):
    start = time.perf_counter()
    images, evaluations = model.sample_counted(16, generator=torch.Generator().manual_seed(seed), **solver)
    return images, evaluations, time.perf_counter() - start


solvers = {"Euler, 4 steps": dict(method="euler", steps=4), "Euler, 20 steps": dict(method="euler", steps=20),
           "midpoint, 20 steps": dict(method="midpoint", steps=20),
           "dopri5, tolerance 1e-3": dict(method="dopri5", steps=None, rtol=1e-3, atol=1e-3)}  # fmt: skip
panels, evaluations, seconds = {}, {}, {}
for name, solver in solvers.items():
    panels[name], evaluations[name], seconds[name] = timed_samples(**solver)
fig = plots.show_grids(panels, nrow=4, size=2.6, rows=2, finding="The same 16 noise draws solved four ways; the images "
                       "sharpen as the solver takes more or better steps.")
plots.glue_figure("fig-fm-solvers", fig)
for name, count in evaluations.items():
    print(f"{name:<24} {count:4d} velocity evaluations")
glue("fm-dopri5-nfe", evaluations["dopri5, tolerance 1e-3"], display=False)

# %% tags=["nbval-ignore-output"]
# nbval-ignore-output: wall-clock times, which differ from run to run and machine to machine
for name, s in seconds.items():
    print(f"{name:<24} {1000 * s / 16:6.1f} ms per sample on {runtime.describe_device(device)}")

# %% [markdown]
# ```{glue:figure} fig-fm-solvers
# :name: fig-fm-solvers
# The same noise carried to $t = 1$ by four solvers.
# ```
#
# Four Euler steps leave stray specks and broken strokes; twenty clean them up. The adaptive
# dopri5 settled on {glue:text}`fm-dopri5-nfe` evaluations for this batch and draws the same
# digits as midpoint with 40: once the solver is accurate enough, the digits stop changing.
#
# How good must the solver be? The curve below measures MNIST-FID (chapter 2's metric, with
# the course's classifier) against the number of velocity evaluations, for Euler and
# midpoint steps. It was measured on the shipped model (`python -m gengen_lib ship
# flow-matching --remeasure`) and is read from `weights/manifest.json`.

# %%
entry = shipped.manifest().get("flow-matching", {}).get("metrics", {}) if not quick else {}
curve = entry.get("fid_by_evaluations", {})
if curve:
    per_method = {m: [(p["nfe"], p["fid"]) for p in curve["points"] if p["method"] == m]
                  for m in sorted({p["method"] for p in curve["points"]})}  # fmt: skip
    fig = fmfig.fid_against_evaluations(per_method, {"real validation images": curve["real_fid"]})
    plots.glue_figure("fig-fm-fid-nfe", fig)
    print(f"FID on {curve['samples']:,} samples per point (fewer than the {entry['samples']:,} of the headline "
          "figure, so every value is biased upwards by about the same amount; the real images too)")
    for p in curve["points"]:
        print(f"  {p['method']:<9} {p['nfe']:>3} evaluations: FID {p['fid']:6.1f}")
    fid_at = {(p["method"], p["nfe"]): p["fid"] for p in curve["points"]}
    for method, nfe in [("euler", 16), ("euler", 32), ("midpoint", 16), ("midpoint", 32)]:
        glue(f"fm-fid-{method}-{nfe}", f"{fid_at[method, nfe]:.0f}", display=False)
    glue("fm-fid-real", f"{curve['real_fid']:.0f}", display=False)
else:
    print("no measured curve (quick mode, or the model was not shipped)")

# %% [markdown]
# ```{glue:figure} fig-fm-fid-nfe
# :name: fig-fm-fid-nfe
# MNIST-FID against velocity evaluations per sample, Euler and midpoint steps.
# ```
#
# Both curves fall steeply over the first few evaluations and then flatten: from 16 to 32
# evaluations Euler goes from {glue:text}`fm-fid-euler-16` to {glue:text}`fm-fid-euler-32`,
# midpoint from {glue:text}`fm-fid-midpoint-16` to {glue:text}`fm-fid-midpoint-32`. At equal
# cost the second-order solver is better, and midpoint with 16 evaluations already beats
# Euler with 32. Beyond that, more steps buy little: what separates the samples from real
# digits (FID {glue:text}`fm-fid-real` for 1,000 real images) is the model, not the solver.
# The course samples with midpoint and 10 steps (20 evaluations), where the curve has
# flattened.
#
# (fm-6)=
# ## FM.6 Likelihood by the ODE
#
# In two dimensions the divergence costs two backward passes; in 784 dimensions the exact
# trace costs 784, at every solver step. **Hutchinson's estimator** replaces it by one
# vector-Jacobian product: for a random $\varepsilon$ with $\mathbb{E}[\varepsilon] = 0$ and
# $\mathbb{E}[\varepsilon\varepsilon^\top] = I$,
#
# $$
# \mathbb{E}_\varepsilon\big[\varepsilon^\top J \varepsilon\big]
# = \operatorname{tr}\big(J\, \mathbb{E}[\varepsilon\varepsilon^\top]\big) = \operatorname{tr} J .
# $$
#
# With one Rademacher vector held fixed along the whole path, the estimate of the integral
# is unbiased too, and $\log p$ inherits a little noise. How much? The same two test images,
# four independent draws each:

# %%
test_images = data.load_mnist("test").images
n_images, n_draws = (2, 3) if quick else (2, 4)
u = data.dequantize(test_images[:n_images], torch.Generator().manual_seed(seed)).to(device)
repeated = u.repeat(n_draws, 1)
log_p, nfe = model.log_prob(repeated, generator=torch.Generator().manual_seed(seed + 1), **fm.LIKELIHOOD_SOLVER)
per_draw = flows.bits_per_dim(log_p).reshape(n_draws, n_images).cpu()
print(f"{nfe} velocity evaluations ({fm.LIKELIHOOD_SOLVER['method']}, {fm.LIKELIHOOD_SOLVER['steps']} steps) "
      f"for {len(repeated)} likelihoods")
for i in range(n_images):
    print(f"test image {i}: bits/dim {per_draw[:, i].mean():.4f}, spread between draws (std) {per_draw[:, i].std():.4f}")

# %% [markdown]
# The spread between draws is small next to the differences between images, so a test-set
# average needs no repeated draws. The bits per dimension count everything chapter 3
# counted: $\log p(y)$ from the ODE, the logit step's log-determinant, and the $784 \ln 256$
# of the rescaling to 8-bit levels. The packed model's value, and a live check on a few test
# images (a different subset, so it agrees only within the standard errors):

# %%
n_live = 4 if quick else 8
live = fm.bits_per_dim_on_test_images(model, n_live, seed=seed + 2, batch_size=8, **fm.LIKELIHOOD_SOLVER)
print(f"live, first {live['n']} test images: {live['bpd']:.3f} ± {live['bpd_sem']:.3f} bits/dim")
if entry:
    shipped_bpd = entry["test_bpd"]
    print(f"manifest, first {shipped_bpd['n']:,} test images: {shipped_bpd['bpd']:.3f} ± {shipped_bpd['bpd_sem']:.3f} bits/dim")
    z = abs(live["bpd"] - shipped_bpd["bpd"]) / math.hypot(live["bpd_sem"], shipped_bpd["bpd_sem"])
    print(f"difference: {z:.1f} standard errors")
    glue("fm-test-bpd", f"{shipped_bpd['bpd']:.2f}", display=False)

# %% [markdown]
# (fm-7)=
# ## FM.7 Diffusion is a special case
#
# With a Gaussian source and straight paths, $x_t = (1 - t)x_0 + t x_1$ is a noisy, scaled
# copy of the data: precisely the forward process of a diffusion model, with signal scale
# $t$ and noise scale $1 - t$. Diffusion models learn the **score**
# $\nabla_x \log p_t(x)$ instead of a velocity, but for this path one determines the other.
# Tweedie's formula gives $\nabla \log p_t(x) = -\mathbb{E}[x_0 \mid x_t = x] / (1 - t)$, and
# since $x = (1-t)\,\mathbb{E}[x_0 \mid x] + t\,\mathbb{E}[x_1 \mid x]$ while
# $u_t(x) = \mathbb{E}[x_1 \mid x] - \mathbb{E}[x_0 \mid x]$, we get
# $\mathbb{E}[x_0 \mid x] = x - t\,u_t(x)$ and
#
# $$
# \nabla_x \log p_t(x) = \frac{t\, u_t(x) - x}{1 - t}, \qquad t < 1 .
# $$
#
# On the mixture, the left side is the gradient of the exact $\log p_t$ and the right side
# the exact velocity; on the two-moons model, the left side is a finite difference of the
# ODE's $\log p_t$ and the right side the learned velocity:

# %%
xs = torch.randn(200, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 2
ts = torch.rand(200, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 0.9
from_velocity = fm.score_from_velocity(mixture.marginal_velocity(xs, ts), xs, ts)
xg = xs.clone().requires_grad_(True)
(from_density,) = torch.autograd.grad(mixture.log_density(xg, ts).sum(), xg)
print(f"mixture: largest |score from velocity - grad log p_t| = {(from_velocity - from_density).abs().max():.1e}")

t_check, h = 0.5, 1e-2  # log p_t to 1e-8: the difference quotient's rounding stays near 1e-6
probe = toy.two_moons(6, generator=torch.Generator().manual_seed(6)).double() * 0.5
log_p_at = lambda x: fm.ode_log_prob(v, x, t=t_check, exact=True, rtol=1e-8, atol=1e-8)[0]
steps = torch.eye(2, dtype=torch.float64) * h
finite = torch.stack([(log_p_at(probe + e) - log_p_at(probe - e)) / (2 * h) for e in steps], -1)
with torch.no_grad():
    learned = fm.score_from_velocity(v(probe, torch.full((6,), t_check, dtype=torch.float64)), probe,
                                     torch.full((6,), t_check, dtype=torch.float64))  # fmt: skip
print(f"two moons at t = {t_check}: score from the learned velocity vs finite differences of log p_t")
for a, b in zip(learned.tolist(), finite.tolist(), strict=True):
    print(f"  ({a[0]:7.3f}, {a[1]:7.3f})   ({b[0]:7.3f}, {b[1]:7.3f})")
score_gap = (learned - finite).abs().max().item()
score_scale = finite.abs().max().item()
print(f"largest difference {score_gap:.2f}, against components up to {score_scale:.2f}")
glue("fm-score-gap", f"{score_gap:.2f}", display=False)
glue("fm-score-scale", f"{score_scale:.2f}", display=False)

# %% [markdown]
# Exact on the mixture, to rounding. On the learned model the two columns agree in sign and
# rough size, but differ by up to {glue:text}`fm-score-gap` against components of up to
# {glue:text}`fm-score-scale`. The identity assumes that $v$ *is* the marginal velocity of the
# straight path between the noise and the model's own $p_1$; a trained network is only close
# to that field, and the score read off it inherits the gap. (The finite differences are
# converged: at $h = 10^{-3}$ they change in the third decimal only.)
#
# (fm-8)=
# ## FM.8 The four families side by side
#
# Every number below is read from `weights/manifest.json`, measured by the code of its
# chapter on the shipped weights. The VAE models *binarized* digits, so its nats are not
# comparable with the bits per dimension of the two flows, which model the same dequantized
# 8-bit images.

# %%
book = shipped.manifest()
rows = []
for name, label in [("vae-z20", "VAE (z = 20)"), ("gan-plain", "GAN (a)"), ("flow-learned-scale", "RealNVP"),
                    ("flow-matching", "flow matching")]:  # fmt: skip
    if name not in book:
        continue
    m = book[name]["metrics"]
    likelihood = (f"log p(x) ≈ {m['ll']:.1f} nats (IS, binarized)" if "ll" in m else
                  f"{m['test_bpd']['bpd']:.2f} bits/dim (test)" if "test_bpd" in m else
                  f"{m['valid_bpd']:.2f} bits/dim (valid.)" if "valid_bpd" in m else "none (no density)")  # fmt: skip
    fid = f"{m['fid']:.1f}" if "fid" in m else "-"
    largest = f"{100 * m['largest_class_share']:.1f}%" if "largest_class_share" in m else "-"
    rows.append((label, likelihood, fid, largest, f"{book[name]['training_seconds'] / 60:.0f} min"))
print(f"{'model':<15}{'likelihood':<38}{'FID':>7}{'largest class':>15}{'training':>10}")
for row in rows:
    print(f"{row[0]:<15}{row[1]:<38}{row[2]:>7}{row[3]:>15}{row[4]:>10}")
if {"flow-matching", "flow-learned-scale", "gan-plain"} <= book.keys():
    glue("fm-nvp-bpd", f"{book['flow-learned-scale']['metrics']['valid_bpd']:.2f}", display=False)
    glue("fm-nvp-fid", f"{book['flow-learned-scale']['metrics']['fid']:.0f}", display=False)
    glue("fm-gan-fid", f"{book['gan-plain']['metrics']['fid']:.0f}", display=False)
    glue("fm-fid", f"{book['flow-matching']['metrics']['fid']:.0f}", display=False)

# %% [markdown]
# Read the table by its columns. On the same dequantized 8-bit digits, the continuous flow
# reaches {glue:text}`fm-test-bpd` bits/dim where the stack of couplings stopped at
# {glue:text}`fm-nvp-bpd` (held-out images in both cases, test and validation), and its
# samples score an MNIST-FID of {glue:text}`fm-fid` against RealNVP's {glue:text}`fm-nvp-fid`:
# freeing the architecture from invertibility pays in both columns. The GAN, with
# {glue:text}`fm-gan-fid`, still draws the most convincing digits of the four, and it does so
# in one network pass where flow matching needs twenty velocity evaluations; our model also
# trained for only four epochs, on a CPU. The [comparison chapter](05_comparison.ipynb) sets
# the four families' samples, class histograms and costs per sample side by side.
