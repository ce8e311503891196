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
# # Normalizing flows
#
# A normalizing flow is an invertible neural network $f$ that maps data to noise. Because it
# is invertible, the density of the data follows exactly from the density of the noise and
# the change of volume of $f$: no bound (as in the VAE), no adversary (as in the GAN). This
# chapter answers questions 3.1–3.8 of the reference report with a RealNVP flow on
# dequantized MNIST, and measures it in bits per dimension with every term accounted for.
#
# **Convention used throughout:** `forward` maps **data to noise**, $z = f(x)$, and returns
# $\log \lvert \det \partial f / \partial x \rvert$; `inverse` maps noise to data.

# %% tags=["parameters"]
# Parameters (papermill: -p quick True, or set GENGEN_QUICK=1)
quick = False
pretrained = True  # use the shipped flows in weights/; False trains them (about an hour each on a CPU)
seed = 0

# %%
import math

import matplotlib.pyplot as plt
import torch
from myst_nb import glue

from gengen_lib import alt_text, data, figures, flows, plots, precision, pretrained as shipped, quality, runs, runtime, toy, widgets

runtime.check_flags(pretrained=pretrained)
quick, device = runtime.notebook_setup(quick, seed)

# %% [markdown]
# (q3-1)=
# ## Q3.1 The change of variables
#
# Let $f: \mathbb{R}^m \to \mathbb{R}^m$ be invertible and differentiable, $z = f(x)$, and
# $z \sim p_Z$. Probability mass is conserved, so a small volume $dx$ around $x$ and its image
# $dz$ carry the same mass: $p_X(x)\,|dx| = p_Z(z)\,|dz|$. Hence
#
# $$
# p_X(x) = p_Z\big(f(x)\big)\, \left\lvert \det \frac{\partial f}{\partial x} \right\rvert .
# $$
#
# For a chain of $L$ invertible layers $x = h_0 \to h_1 \to \dots \to h_L = z$, with
# $h_l = f_l(h_{l-1})$, the Jacobian determinants multiply, and the logarithms add:
#
# $$
# \log p_X(x) = \log p_Z(h_L) + \sum_{l=1}^{L} \log \left\lvert \det \frac{\partial f_l}{\partial h_{l-1}} \right\rvert .
# $$
#
# ```{admonition} Correction
# :class: warning
# The report writes $p(x) = p(z)\,\lvert\det \partial f / \partial z\rvert$ with $z = f(x)$,
# and starts the chain at $p(z_0)$. With $z = f(x)$ the Jacobian is taken with respect to
# $x$, the *input* of $f$ ($\partial f / \partial z$ is not even defined), and the base
# density is evaluated at the *end* of the chain, $h_L = z$.
# ```
#
# In one dimension everything can be checked by hand: with $z = f(x) = 2x + 1$ and
# $p_Z = \mathcal{N}(0, 1)$, the formula gives $p_X(x) = 2\, \mathcal{N}(2x + 1; 0, 1)$, which
# must be the density $\mathcal{N}(-\tfrac12, \tfrac14)$ and must integrate to 1:

# %%
from torch.distributions import Normal

x = torch.linspace(-6, 6, 120_001, dtype=torch.float64)
p_x = 2 * Normal(0.0, 1.0).log_prob(2 * x + 1).exp()
direct = Normal(-0.5, 0.5).log_prob(x).exp()
print(f"integral of p_X:                 {(p_x.sum() * (x[1] - x[0])).item():.6f}")
print(f"largest |p_X - N(-1/2, 1/4)|:     {(p_x - direct).abs().max().item():.2e}")
wrong = Normal(0.0, 1.0).log_prob(2 * x + 1).exp()  # forgetting the |det| factor
print(f"integral without the |det| term: {(wrong.sum() * (x[1] - x[0])).item():.6f}")

# %% [markdown]
# In two dimensions we can watch a flow learn. A small RealNVP (four pairs of couplings, 64
# hidden units; shipped in `weights/` like the other models) is trained by maximum likelihood on a
# "two moons" data set. Left: the data.
# Middle: the learned density $p_X(x) = \mathcal{N}(f(x); 0, I)\,\lvert\det \partial f / \partial x\rvert$.
# Right: samples, $x = f^{-1}(z)$.

# %% tags=["hide-input"]
moons_settings = toy.ToyFlowSettings.for_mode(quick, seed=seed)  # 8,000 points, 30 epochs (quick: 2,000, 3)
toy_flow, toy_history = shipped.load_or_train("toy-flow", moons_settings, pretrained=pretrained)
moons = moons_settings.training_points()
print(f"toy flow: NLL {toy_history.epochs[-1]['nll']:.3f} nats per point after {len(toy_history.epochs)} epochs")
fig = figures.two_moons_density(toy_flow, moons)

# %% [markdown]
# How does the flow do it? Below, a regular grid in data space is pushed through the layers
# one at a time (each panel is $h_l$ for the grid lines and for the data): every coupling
# moves only one coordinate, as a function of the other, and together they straighten the
# two moons into a Gaussian blob.

# %% tags=["hide-input"]
fig = figures.coupling_warp(toy_flow, moons, stages=[0, 2, 4, 6, 8])


# %% [markdown]
# (q3-2)=
# ## Q3.2 What the formula requires of $f$
#
# * **Same dimension in and out.** The determinant exists only for a square Jacobian, so
#   $f: \mathbb{R}^m \to \mathbb{R}^m$: every $h_l$ has the dimension of $x$ (784 here). A flow
#   cannot compress.
# * **Invertibility.** We need $f^{-1}$ to sample, and we need the change of variables to hold,
#   which requires a *bijection*. A non-zero Jacobian determinant is not enough.
#
# ```{admonition} Correction
# :class: warning
# The report argues that a non-zero determinant "constrains $f$ to be invertible" by the
# inverse function theorem. That theorem only gives *local* invertibility: near each point.
# $f(x) = (e^{x_1}\cos x_2,\ e^{x_1}\sin x_2)$ has determinant $e^{2x_1} > 0$ everywhere and is
# not injective ($x_2$ and $x_2 + 2\pi$ have the same image). A flow needs a *global*
# bijection, and coupling layers guarantee one by construction: the inverse is written down
# explicitly.
# ```

# %%
def polar(v):
    return torch.stack([v[0].exp() * torch.cos(v[1]), v[0].exp() * torch.sin(v[1])])

a = torch.tensor([0.3, 1.0], dtype=torch.float64)
b = a + torch.tensor([0.0, 2 * math.pi], dtype=torch.float64)
for name, point in [("a", a), ("b = a + (0, 2 pi)", b)]:
    det = torch.linalg.det(torch.autograd.functional.jacobian(polar, point)).item()
    print(f"{name:<18} f = {[round(v, 6) for v in polar(point).tolist()]}   det J = {det:.4f}")
print("same image, non-zero determinant at both: locally invertible, globally not")

# %% [markdown]
# (q3-3)=
# ## Q3.3 Why couplings: the cost of the determinant
#
# For a general $m \times m$ Jacobian, computing $\log\lvert\det\rvert$ costs $O(m^3)$
# operations, for every example and every layer, and even forming the Jacobian takes $m$
# backward passes. An **affine coupling layer** splits the input with a binary mask $b$:
#
# $$
# y = b \odot x + (1 - b) \odot \big(x \odot e^{s(b \odot x)} + t(b \odot x)\big).
# $$
#
# The kept half passes unchanged and decides the scale $s$ and shift $t$ of the other half.
# Ordering the kept coordinates first, the Jacobian is **lower triangular**, with ones for
# the kept coordinates and $e^{s_j}$ for the others on the diagonal, so
#
# $$
# \log \lvert \det J \rvert = \sum_j (1 - b_j)\, s_j(b \odot x) \qquad \text{(a sum of } m \text{ terms: } O(m)).
# $$
#
# ```{figure} ../book/diagrams/coupling.svg
# :name: diagram-coupling
# :alt: Diagram: the input is split by the mask into a kept half and another half; the kept half passes unchanged and feeds a network giving s and t; the other half becomes x_b times exp(s) plus t; log |det J| is the sum of s.
# :width: 480px
#
# An affine coupling layer: split, then scale and shift one half by amounts the other half decides. Inverting it needs only $s$ and $t$ of the kept half, never the network's inverse.
# ```
#
# The networks $s$ and $t$ can be arbitrarily complex: they are never inverted. The inverse
# is $x = b \odot y + (1 - b) \odot (y - t(b \odot y)) \odot e^{-s(b \odot y)}$, as cheap as
# the forward pass.
#
# ```{admonition} Correction
# :class: warning
# The report says the useful transformations "have linear complexity and do not require the
# inverse of the Jacobian". Training never needs the Jacobian's inverse: it needs
# $\log \lvert \det J \rvert$. What makes couplings (and autoregressive layers) practical is
# the *triangular* Jacobian, whose log-determinant is a sum of $m$ diagonal terms, $O(m)$,
# instead of a general determinant's $O(m^3)$.
# ```
#
# Here is the Jacobian of one coupling layer with random weights on $m = 8$ inputs, taken by
# autograd, shown with the kept coordinates first, and its log-determinant from the diagonal
# versus `slogdet`:

# %% tags=["hide-input"]
torch.manual_seed(0)
coupling = flows.AffineCoupling(flows.alternating_mask(8), hidden=16).double()
with torch.no_grad():
    for p in coupling.parameters():
        p.normal_(0, 0.4)
x8 = torch.randn(8, dtype=torch.float64)
J = torch.autograd.functional.jacobian(lambda v: coupling(v[None])[0][0], x8)
order = torch.cat([torch.nonzero(coupling.mask).flatten(), torch.nonzero(1 - coupling.mask).flatten()])
J_sorted = J[order][:, order]
_, log_det = coupling(x8[None])
print(f"log|det J| from the coupling (sum of s):  {log_det.item():.10f}")
print(f"log|det J| from slogdet of the Jacobian:  {torch.linalg.slogdet(J)[1].item():.10f}")
print(f"entries above the diagonal (sorted J):    {J_sorted.triu(1).abs().max().item():.1e}")
fig = figures.jacobian_matrix(J_sorted)

# %% tags=["hide-input"]
dims = [64, 128, 256, 512, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
fig, seconds = figures.determinant_timings(dims)  # wall-clock times: the figure is compared by its form only

# %% tags=["nbval-ignore-output", "hide-input"]
# nbval-ignore-output: wall-clock timings, which differ from run to run and machine to machine
general, coupling_sum = seconds.values()
print("slogdet: x" + ", x".join(f"{b / a:.1f}" for a, b in zip(general[-3:], general[-2:])),
      f"over the last two doublings of m (m^3 alone would give x8); from m = {dims[0]} to {dims[-1]} it grew "
      f"x{general[-1] / general[0]:,.0f}")
print(f"coupling's sum: x{coupling_sum[-1] / coupling_sum[0]:.1f} from m = {dims[0]} to {dims[-1]}, "
      f"{coupling_sum[-1] * 1e6:.0f} µs at m = {dims[-1]}: small sums cost about one function call")

# %% [markdown]
# (q3-4)=
# ## Q3.4 Dequantization
#
# MNIST pixels are integers $k \in \{0, \dots, 255\}$. A continuous density can put
# *unbounded* density on a finite set of points: a flow trained on raw integers can drive its
# likelihood to infinity by collapsing onto them, learning nothing. The fix is to make the data
# continuous by adding uniform noise to the integers,
#
# $$
# y = k + u, \quad u \sim \mathcal{U}[0, 1)^D,
# $$
#
# and then scaling by $1/256$ to $[0, 1]^D$ (our `data.dequantize`). Each integer now owns a unit
# cube, and the model's discrete probability of $k$ is the density integrated over that cube,
# $P(k) = \int_{[0,1)^D} p(k + u)\, du$. By Jensen's inequality,
#
# $$
# \mathbb{E}_{u}\big[\log p(k + u)\big] \le \log \int p(k + u)\, du = \log P(k),
# $$
#
# so the log-likelihood of dequantized data is a **lower bound** on the discrete
# log-likelihood (Theis et al., 2016): bits per dimension measured this way are an honest
# upper bound on the bits a code based on the model would need.
#
# ```{figure} ../book/diagrams/dequantization.svg
# :name: diagram-dequantization
# :alt: Diagram: a pixel value k = 3 plus uniform noise lands in the cell from 3 to 4 of a number line; the cells tile 0 to 256; dividing by 256 gives y in [0, 1); P(k), the integral over the cell, is at least exp of the expected log-density there.
# :width: 480px
#
# Dequantization: each integer owns a unit cell, and the density's integral over the cell is the discrete probability, bounded below by the dequantized log-likelihood (here $v = k + u$, $y = v/256$).
# ```
#
# ```{admonition} Correction
# :class: warning
# The report dequantizes by "adding noise from a standard distribution", which is too vague to
# be right: noise that is not confined to the unit interval (a Gaussian, say) mixes
# neighbouring integers and breaks the bound above. The noise must live on $[0, 1)^D$. Uniform
# noise is the simplest choice and the one we use; any other density $q(u \mid k)$ on $[0, 1)^D$
# works too once its entropy is counted, $\log P(k) \ge \mathbb{E}_{q}[\log p(k + u) - \log q(u \mid k)]$,
# and learning $q$ (variational dequantization, as in Flow++) tightens the bound.
# ```
#
# A 1-d check with a model whose integrals are known: a two-component Gaussian mixture as
# the density $p$ on $[0, 256)$, its exact discrete probabilities $P(k)$ from the CDF, and the
# dequantized expectation $\mathbb{E}_u[\log p(k + u)]$ computed by quadrature:

# %%
from torch.distributions import Categorical, MixtureSameFamily

mixture = MixtureSameFamily(Categorical(torch.tensor([0.7, 0.3], dtype=torch.float64)),
                            Normal(torch.tensor([20.0, 180.0], dtype=torch.float64), torch.tensor([6.0, 30.0], dtype=torch.float64)))
def cdf(v):
    return (mixture.mixture_distribution.probs * mixture.component_distribution.cdf(v[..., None])).sum(-1)
u = (torch.arange(100_000, dtype=torch.float64) + 0.5) / 100_000  # midpoints: E_u[.] by quadrature
print("   k    log P(k) exact   E_u log p(k + u)    gap (Jensen)   bound holds")
for k in [10, 20, 26, 150, 180]:
    kk = torch.tensor(float(k), dtype=torch.float64)
    exact = torch.log(cdf(kk + 1) - cdf(kk)).item()
    dequantized = mixture.log_prob(kk + u).mean().item()
    print(f"{k:4d}   {exact:14.6f}   {dequantized:16.6f}   {exact - dequantized:12.2e}   {dequantized <= exact}")

# %% [markdown]
# The bound is tight where the density is nearly flat across a unit interval and looser where
# it curves; for a model of 8-bit images it costs little, since the density rarely changes
# much within one grey level.
#
# In our pipeline the dequantized pixels $y \in [0, 1]$ also go through a **logit transform**,
# $y \mapsto \operatorname{logit}(\alpha + (1 - 2\alpha)\, y)$ with $\alpha = 10^{-6}$ (our
# choice, stated: it maps the bounded pixel range onto the real line, where a Gaussian base
# density lives, and $\alpha$ keeps $0$ and $1$ finite). It is one more invertible layer with
# its own log-determinant, and it is counted.
#
# (q3-5)=
# ## Q3.5 Training and sampling: which way the data flows
#
# * **Training (density estimation):** input a dequantized image $x$; run the layers
#   *forward*, $x = h_0 \to \dots \to h_L = z$, summing their log-determinants; output
#   $\log p(x) = \log \mathcal{N}(z; 0, I) + \sum_l \log\lvert\det\rvert$ and its gradient.
# * **Sampling (generation):** input $z \sim \mathcal{N}(0, I)$ (or $\mathcal{N}(0, T^2 I)$ at
#   temperature $T$); run the layers' *inverses in reverse order*; output an image.
#
# (q3-6)=
# ## Q3.6 The two algorithms, corrected
#
# ```{admonition} Correction
# :class: warning
# The report's Algorithm 1 accumulates "$\log\lvert \partial h_l / \partial z_{l-1} \rvert$",
# mixing two names for the same chain, and then *maximises* with a gradient step on
# $\mathcal{L}$ while calling it a loss. Its Algorithm 2 applies $f_1^{-1}, \dots, f_L^{-1}$ in
# *forward* order. Correct versions: accumulate $\log\lvert\det \partial f_l / \partial h_{l-1}\rvert$,
# add $\log p(h_L)$, and **minimise the negative** mean log-likelihood; sample with
# $x = f_1^{-1}(f_2^{-1}(\cdots f_L^{-1}(z)))$, i.e. invert the *last* layer *first*.
# ```
#
# **Algorithm 1 (training).** Repeat until converged: take a mini-batch $\{x\}$; set
# $h_0 = x$ and $\ell = 0$; for $l = 1..L$: $h_l = f_l(h_{l-1})$, $\ell \mathrel{+}= \log\lvert\det \partial f_l/\partial h_{l-1}\rvert$;
# then $\ell \mathrel{+}= \log p(h_L)$; loss $= -\operatorname{mean}(\ell)$; gradient step on the loss.
#
# **Algorithm 2 (sampling).** $z \sim p(z)$; for $l = L, L-1, \dots, 1$: $z = f_l^{-1}(z)$; return $z$.
#
# In code these are `RealNVP.forward` / `log_prob` and `RealNVP.inverse` / `sample`. Checking
# the order matters, on a small random flow: inverting in the wrong order does not give the
# input back.

# %%
torch.manual_seed(0)
small = flows.RealNVP(n_pairs=2, hidden=16, dim=6, image_shape=None, logit_alpha=None).double()
with torch.no_grad():
    for p in small.parameters():
        p.normal_(0, 0.3)
x6 = torch.randn(4, 6, dtype=torch.float64)
z6, _ = small(x6)
right = small.inverse(z6)
wrong = z6
for layer in small.layers():  # f_1^{-1} first: the report's order
    wrong = layer.inverse(wrong)
print(f"inverse in reverse order (correct):  max |x - x_rec| = {(right - x6).abs().max():.1e}")
print(f"inverse in forward order (report):   max |x - x_rec| = {(wrong - x6).abs().max():.2f}")

# %% [markdown]
# (q3-7)=
# ## Q3.7 The model
#
# `gengen_lib.flows.RealNVP`, following the report:
#
# | part | choice |
# |---|---|
# | pre-processing | dequantize (uniform), scale by 1/256, logit with $\alpha = 10^{-6}$ (each counted in the log-likelihood) |
# | couplings | 4 pairs of affine couplings; complementary checkerboard masks on the 28 × 28 grid |
# | $s$, $t$ networks | MLP with three hidden ReLU layers of 512 units, the first two shared by $s$ and $t$; it reads the 392 kept pixels and writes $s$ and $t$ for the 392 others |
# | scale | $s = a \odot \tanh(\text{raw})$ with a learned per-pixel factor $a$ (initialised to 1), bounding each layer's log-scale |
# | fixed-scale variant | $s \equiv 0$: shifts only, volume preserving, log-determinant 0 |
# | prior | $\mathcal{N}(0, I_{784})$ |
# | training | Adam, learning rate $10^{-3}$, batch 128, gradient norm clipped at 10; loss = mean bits/dim of the batch |
#
# The hidden width is our choice: the report does not give it, and 512 units keep a CPU epoch
# within minutes (the results table below gives the measured time per epoch), while 1024 units
# would have {glue:text}`flow_width_ratio:.1f` times as many weights, and so about as many times the
# multiply-adds per step. The last layer
# of $s$ and $t$ starts at zero, so every coupling starts as the identity.
#
# The formula $b \odot x + (1 - b) \odot (\dots)$ suggests networks that take all 784 pixels
# (with half of them zeroed by the mask) and produce 784 values (half of them thrown away).
# `AffineCoupling` computes the same function with *packed* halves: its network reads only
# the kept coordinates and writes a scale and a shift only for the free ones, which removes a
# third of each coupling's multiply-adds at this width (the benchmark in `bench/` measures
# the speed-up).
#
# (q3-8)=
# ## Q3.8 Bits per dimension, and the results
#
# **The convention.** We report the negative log-likelihood of the *8-bit* images, through
# dequantization, in bits per pixel:
#
# $$
# \text{bpd} = \frac{-\log p_{[0,1]}(y) + D \ln 256}{D \ln 2}, \qquad D = 784,
# $$
#
# where $\log p_{[0,1]}(y)$ is the flow's log-density of the dequantized, scaled image
# (including the logit step's log-determinant), and $D \ln 256$ is the log-determinant of the
# scaling by $1/256$. A model that knows nothing, the uniform density on $[0, 256)^D$, scores
# exactly 8 bits per dimension.
#
# ```{figure} ../book/diagrams/bits_per_dim.svg
# :name: diagram-bits-per-dim
# :alt: Diagram: integers k, plus uniform noise, divided by 256, through the logit step and the couplings to z; each step adds its term to the log-likelihood, and the negative total divided by 784 ln 2 is bits per dimension.
# :width: 480px
#
# From an 8-bit image to bits per dimension: every step that changes the data adds its log-determinant, so the number means the same for any pre-processing.
# ```
#
# ```{admonition} Correction
# :class: warning
# The report defines bpd as "the negative $\log_2$-probability per pixel" without saying of
# what. Computed on data scaled to $[0, 1]$ and ignoring the scaling, the same model would
# report 8 bits less (even negative values); ignoring a logit transform shifts it again.
# Bits per dimension of 8-bit data must include every pre-processing log-determinant:
# $\text{bpd} = \text{NLL of the dequantized integers in nats} / (D \ln 2)$.
# ```

# %%
log_p = torch.zeros(1)  # the uniform density on [0, 1]^784
print("uniform density on [0, 1]^784 (log p = 0):", flows.bits_per_dim(log_p).item(), "bits/dim")
print("the same, forgetting the scaling by 1/256, -log p / (784 ln 2):", (0 - log_p / (784 * math.log(2))).item(), "bits/dim")
logit = flows.LogitTransform(1e-6)
y = data.dequantize(data.load_mnist("valid").images[:100], torch.Generator().manual_seed(0)).double()
_, logit_log_det = logit(y)
print(f"the logit step's log-determinant on real digits: {logit_log_det.mean() / (784 * math.log(2)):.3f} bits/dim on average")
print("(leaving it out would misstate bits/dim by that much)")

# %% [markdown]
# Now the two models of the report: learned scale and fixed scale of 1. Each is trained
# through the shared loop (checkpoint every epoch, resumable); the notebook loads the shipped
# ones from `weights/` unless its `pretrained` parameter is `False`.

# %%
wide, narrow = (runs.count_parameters(flows.build_flow(flows.FlowSettings(hidden=h))) for h in (1024, 512))
glue("flow_width_ratio", wide / narrow, display=False)
variants = {
    "learned scale": flows.FlowSettings.for_mode(quick, learned_scale=True, seed=seed),
    "fixed scale": flows.FlowSettings.for_mode(quick, learned_scale=False, seed=seed),
}
trained = {name: shipped.load_or_train("flow", s, pretrained=pretrained, device=device, quiet=quick)
           for name, s in variants.items()}
for name, (model, history) in trained.items():
    per_epoch = history.seconds / len(history.epochs)
    print(f"{name}: {len(history.epochs)} epochs, {per_epoch:.0f} s per epoch, "
          f"{sum(e['images_per_s'] for e in history.epochs) / len(history.epochs):,.0f} images/s, "
          f"{runs.count_parameters(model):,} parameters")

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(plots.COLUMN_INCHES, 3.4), sharey=True, layout="constrained")
bests = []
for ax, (name, (model, history)) in zip(axes, trained.items()):
    plots.plot_curves(ax, {"train (first 10,000)": history.curve("train_eval_bpd"),
                           "validation": history.curve("valid_bpd")}, ylabel="bits per dimension")
    best_train, best_valid = min(history.curve("train_eval_bpd")), min(history.curve("valid_bpd"))
    bests.append(f"{name}: best {best_train:.3f} (train) and {best_valid:.3f} (validation)")
    ax.set_title(f"({'ab'[list(trained).index(name)]}) {name}: best {best_train:.3f} / {best_valid:.3f}")
alt_text.describe(fig, "Two panels, one per flow: bits per dimension of the first 10,000 training images and of the "
                       "validation images against the epoch; both curves fall and stay close together. "
                       + "; ".join(bests) + ".")  # fmt: skip
plots.glue_figure("fig-flow-bpd", fig)

# %% [markdown]
# ```{glue:figure} fig-flow-bpd
# :name: fig-flow-bpd
#
# Bits per dimension of dequantized 8-bit MNIST during training, both flows (the report's
# Figure 7).
# ```

# %% tags=["hide-input"]
for name, (model, history) in trained.items():
    fig = plots.show_snapshots(history, f"{name}: ", finding="From noise at the start to digit shapes at the end.")
    plots.glue_figure(f"fig-flow-samples-{name.split()[0]}", fig)

# %% [markdown]
# ```{glue:figure} fig-flow-samples-learned
# :name: fig-flow-samples-learned
#
# Samples of the learned-scale flow before training, halfway and at the end (the report's
# Figure 8).
# ```
#
# ```{glue:figure} fig-flow-samples-fixed
# :name: fig-flow-samples-fixed
#
# The same for the fixed-scale flow.
# ```

# %% [markdown]
# Samples at lower **temperature** $T$ (drawing $z \sim \mathcal{N}(0, T^2 I)$) trade variety
# for cleaner digits; $T = 1$ is the model's actual distribution.

# %% tags=["hide-input"]
model = trained["learned scale"][0].cpu()
temps = [0.5, 0.7, 0.85, 1.0]
with torch.no_grad():
    panels = {f"T = {t}": model.sample(32, generator=torch.Generator().manual_seed(seed), temperature=t) for t in temps}
fig = plots.show_grids(panels, nrow=8, size=3.2, rows=2, finding="The same codes at each temperature: the lower "
                       "the temperature, the cleaner and less varied the digits.")  # fmt: skip

# %% [markdown]
# **Sample quality on the same yardstick as the GAN** (the MNIST classifier of the GAN
# chapter; 10,000 samples at $T = 1$ in full mode):

# %%
classifier_settings = quality.ClassifierSettings.for_mode(quick)
classifier = shipped.load_or_train("classifier", classifier_settings, pretrained=pretrained)[0]
meter = quality.SampleQualityMeter(classifier)
n_samples = 1000 if quick else 10_000
scores = {}
for name, (m, _) in trained.items():  # the draws of weights/manifest.json: the same numbers on every page
    scores[name] = quality.sample_quality(m.cpu(), meter, n_samples, seed=seed)
    print(f"{name:<14} MNIST-FID {scores[name]['fid']:7.2f}  score {scores[name]['classifier_score']:.2f}  "
          f"class entropy {scores[name]['class_entropy']:.3f}  largest class {scores[name]['largest_class_share']:.1%}")

# %% [markdown]
# Finally, the invertibility of the trained model in float32, data → noise → data:

# %%
with torch.no_grad():
    xv = data.dequantize(data.load_mnist("valid").images[:256], torch.Generator().manual_seed(0))
    zv, _ = model(xv)
    error = (model.inverse(zv) - xv).abs().max().item()
print(f"max |x - f^-1(f(x))| over 256 validation images: at most {precision.round_off_bound(error)} (float32 round-off)")
print("below 1e-4:", error < 1e-4)

# %% [markdown]
# ## Explore
#
# The temperature figure above is the static version of this section. To move the temperature
# yourself, open [inside a normalizing flow](../book/flow_explorer.md), where both flows of this
# chapter run in the page: the two-moons flow point by point (its code, log-determinant and
# log-density) and this MNIST flow's samples from the same fixed noise at any temperature. Or run
# the notebook in JupyterLab (`make lab`) and two sliders appear here: one redraws samples from
# fixed noise at any temperature, the other walks along a great circle between the codes of two
# validation digits, decoded by the inverse flow.

# %% tags=["nbval-ignore-output", "remove-output"]
# nbval-ignore-output: a live widget; its view has a random id and is not stored, so there is nothing to compare
# Sliders that run Python: they react in JupyterLab (make lab) only, so this page shows no output here.
two_digits = data.dequantize(data.load_mnist("valid").images[:2], torch.Generator().manual_seed(0))
widgets.flow_explorer(model, two_digits, noise=flows.chapter_noise(seed=seed))

# %% [markdown]
# ## Results

# %%
print(f"{'':<15}{'best train bpd':>15}{'best valid bpd':>15}{'epochs':>8}{'s/epoch':>9}{'images/s':>10}{'parameters':>12}{'MNIST-FID':>11}")
for name, (m, h) in trained.items():
    ips = sum(e["images_per_s"] for e in h.epochs) / len(h.epochs)
    print(f"{name:<15}{min(h.curve('train_eval_bpd')):15.3f}{min(h.curve('valid_bpd')):15.3f}{len(h.epochs):8d}"
          f"{h.seconds / len(h.epochs):9.0f}{ips:10,.0f}{runs.count_parameters(m):12,}{scores[name]['fid']:11.2f}")
print("reference report:  learned scale 1.82 / 1.83, fixed scale 2.03 / 2.04 (train / valid)")
valid_images = data.load_mnist("valid").images
for name, (m, h) in trained.items():  # the weights this notebook runs (float16-rounded when shipped)
    bpd = flows.dequantized_bits_per_dim(m.cpu(), valid_images, torch.Generator().manual_seed(2))
    print(f"{name}: {bpd:.3f} bits/dim on the validation set with the weights loaded here")
print("device of this notebook run:", runtime.describe_device(device), "(times per epoch come from the training runs' histories)")

# %% [markdown]
# ## What to remember
#
# * $\log p(x) = \log p_Z(f(x)) + \log\lvert\det \partial f / \partial x\rvert$, with the Jacobian taken with respect to the input; layers add their log-determinants.
# * A non-zero determinant gives local invertibility only; couplings are global bijections by construction, with a triangular Jacobian whose log-determinant costs $O(D)$.
# * Dequantize integers with *uniform* noise; the resulting likelihood lower-bounds the discrete one.
# * Train by minimising the negative log-likelihood in the data → noise direction; sample by inverting the layers in reverse order.
# * Bits per dimension of 8-bit data count every pre-processing step; a uniform model scores exactly 8.
