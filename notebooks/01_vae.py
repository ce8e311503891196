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
# # Variational autoencoders
#
# A variational autoencoder (VAE) is a latent-variable model trained with a bound on its own
# log-likelihood. This chapter builds one on binarized MNIST and answers questions 1.1–1.15
# of the reference report, one section each, with the corrections that report needs.
#
# **The model.** A latent code $z \in \mathbb{R}^D$ is drawn from a standard normal prior,
# and a decoder network $f_\theta$ turns it into one Bernoulli probability per pixel:
#
# $$
# p(z) = \mathcal{N}(z; 0, I_D), \qquad
# p_\theta(x \mid z) = \prod_{m=1}^{784} \operatorname{Bern}\!\big(x^{(m)} ;\, f_\theta(z)^{(m)}\big).
# $$
#
# An encoder network proposes, for each image, a Gaussian guess of which codes could have
# produced it: $q_\phi(z \mid x) = \mathcal{N}\big(z; \mu_\phi(x), \operatorname{diag}(\sigma^2_\phi(x))\big)$.
#
# ```{figure} ../book/diagrams/vae.svg
# :name: diagram-vae
# :alt: Diagram: image x, encoder, mean and standard deviation, sampler z = mu + sigma times epsilon with epsilon from N(0, I), decoder, Bernoulli means; the loss is the reconstruction cost plus the KL term.
# :width: 480px
#
# The VAE in one picture: the encoder proposes $q_\phi(z \mid x)$, the sampler draws $z$ by the reparameterization trick (Q1.11), the decoder gives the Bernoulli means, and the loss is the negative ELBO (Q1.9).
# ```

# %% tags=["parameters"]
# Parameters (papermill: -p quick True, or set GENGEN_QUICK=1)
quick = False
pretrained = True  # use the shipped models in weights/; False trains them (minutes to hours on a CPU)
seed = 0
is_samples = 5000

# %%
import math

import matplotlib.pyplot as plt
import torch
from myst_nb import glue

from gengen_lib import alt_text, baselines, data, figures, plots, pretrained as shipped, runs, runtime, vae, widgets

runtime.check_flags(pretrained=pretrained)
runtime.check_positive_ints(is_samples=is_samples)
quick, device = runtime.notebook_setup(quick, seed)
if quick:  # CI: the models' quick settings (a subset, few epochs) and few importance samples
    is_samples = 100
n_test = 500 if quick else 10_000
n_live = 100 if quick else 300  # test images for the live importance-sampling estimate

# %% [markdown]
# (q1-1)=
# ## Q1.1 Autoencoder or variational autoencoder?
#
# *How do an autoencoder and a VAE differ in what they are for, and what makes one
# generative and the other not?*
#
# Both compress an image into a short code and reconstruct it, and both are trained without
# labels. The difference is what the code *is*:
#
# * A plain autoencoder learns two deterministic functions, $z = e(x)$ and $\hat x = d(z)$.
#   Nothing says which codes are valid, so decoding a code that no training image was mapped
#   to gives no guarantee of a digit. It defines no distribution, so it cannot give a
#   likelihood or draw new samples in any principled way.
# * A VAE defines a joint distribution $p_\theta(x, z) = p(z)\,p_\theta(x \mid z)$. Its
#   generative direction is a *prior* over codes plus a *decoder distribution*; its encoder is
#   an approximate posterior that is trained to agree with that prior. This is what makes it
#   generative: sample $z$ from the prior, decode, and you get a digit.
#
# A VAE can do an autoencoder's job (use $\mu_\phi(x)$ as a feature vector, reconstruct
# through the decoder), and its codes come with uncertainty: $\sigma_\phi(x)$ says how sure
# the encoder is.

# %% [markdown]
# (q1-2)=
# ## Q1.2 Sampling from the model
#
# *How do we draw an image from the VAE?*
#
# By **ancestral sampling**: sample the parents of the graphical model before the children.
#
# 1. Draw $z \sim \mathcal{N}(0, I_D)$.
# 2. Compute all 784 pixel probabilities at once, $\pi = f_\theta(z)$.
# 3. Draw each pixel independently, $x^{(m)} \sim \operatorname{Bern}(\pi^{(m)})$ for $m = 1, \dots, 784$.
#
# ```{admonition} Correction
# :class: warning
# The report indexes the pixels with $n$ and says that pixel $m$ only needs $z^{(m)}$. Neither
# is right: the index is $m$, and *every* pixel's probability $f_\theta(z)^{(m)}$ depends on
# the *whole* vector $z$ (the decoder is a dense network). Pixels are independent of each other
# *given* $z$, not functions of one coordinate of $z$; the latent dimension (20) and the number
# of pixels (784) are not even equal.
# ```
#
# The trained model below (trained later in this notebook; loaded here from its run
# directory) shows the three steps for a few draws, and checks the claim about $z$: changing
# only the first latent coordinate changes pixels all over the image.

# %%
settings = vae.VAESettings.for_mode(quick, z_dim=20, seed=seed)
model, history = shipped.load_or_train("vae", settings, pretrained=pretrained, device=device, quiet=quick)
model = model.cpu()
source = "the shipped weights" if shipped.shipped_name(settings) and pretrained else "this run"
print(f"{len(history.epochs)} epochs, {history.seconds / 60:.1f} min of training (from {source})")

# %% tags=["hide-input"]
g = torch.Generator().manual_seed(seed)
z = torch.randn(6, model.z_dim, generator=g)                  # step 1: z ~ N(0, I)
with torch.no_grad():
    pi = torch.sigmoid(model.decode(z))                        # step 2: all 784 probabilities
x = (torch.rand(pi.shape, generator=g) < pi).float()           # step 3: independent coin flips
fig = plots.show_grids({"step 2: pixel means f(z)": pi, "step 3: binary samples x": x}, nrow=6, size=4.6,
                       finding="Each binary sample is a noisy copy of the grey-level means above it.")

z_moved = z.clone()
z_moved[:, 0] += 1.0
with torch.no_grad():
    changed = (torch.sigmoid(model.decode(z_moved)) - pi).abs() > 0.01
print(f"moving only z[0] by 1 changes {changed.float().mean():.0%} of the 784 pixel means by more than 0.01")

# %% [markdown]
# (q1-3)=
# ## Q1.3 Is a standard normal prior too simple?
#
# *Digits are anything but Gaussian. Why is $p(z) = \mathcal{N}(0, I)$ not a limitation?*
#
# Because the prior is only the *input* of the decoder. A neural network can map a normal
# distribution onto a complicated, curved set: any distribution with a density can be written
# as a (possibly very non-linear) function of Gaussian noise. The burden of modelling digits
# sits in $f_\theta$, and we can make $f_\theta$ as flexible as we like. The manifold figure
# of Q1.15 shows this: a square of Gaussian latents is bent into all ten digit classes.
#
# What the simple prior does cost is a mismatch elsewhere: the encoder's outputs, pooled over
# all images, should look like $\mathcal{N}(0, I)$ and in practice leave "holes". Samples
# from the prior that land in such holes decode to blurry non-digits (visible in Q1.14).

# %% [markdown]
# (q1-4)=
# ## Q1.4 Monte Carlo estimation of $\log p(x)$
#
# *(a) How could we estimate $\log p(x_n) = \log \int p(x_n \mid z)\, p(z)\, dz$ by sampling?
# (b) Why is this a bad idea?*
#
# (a) The integral is an expectation under the prior, so draw $z_1, \dots, z_L \sim p(z)$ and
# average **inside** the logarithm:
#
# $$
# \log p(x_n) \approx \log \frac{1}{L} \sum_{i=1}^{L} p(x_n \mid z_i)
# = \operatorname{logsumexp}_i \big(\log p(x_n \mid z_i)\big) - \log L .
# $$
#
# ```{admonition} Correction
# :class: warning
# The report writes the estimate as $\frac1L \sum_i p(x_n \mid z_i)$, without the logarithm:
# that estimates $p(x_n)$, not $\log p(x_n)$. With the logarithm, the estimator is
# *consistent* (it converges as $L \to \infty$) but *biased low* for finite $L$: by Jensen's
# inequality, $\mathbb{E}[\log \hat p] \le \log \mathbb{E}[\hat p] = \log p(x)$. Computing it
# needs `logsumexp`, because $p(x_n \mid z_i)$ is around $e^{-100}$ and underflows.
# ```
#
# (b) Almost every prior sample decodes to an image that explains $x_n$ terribly; the sum is
# dominated by the rare $z_i$ that land in the small region the posterior occupies. The
# number of samples needed grows exponentially with the latent dimension. The remedy is
# **importance sampling** with the encoder as proposal (the same expectation rewritten under
# $q$, which puts its samples where the posterior is):
#
# $$
# \log p(x) \approx \log \frac1k \sum_{i=1}^{k} \frac{p(x \mid z_i)\,p(z_i)}{q(z_i \mid x)},
# \qquad z_i \sim q(z \mid x).
# $$
#
# First the bias, on a toy model where the answer is known exactly: $z \sim \mathcal{N}(0, 1)$,
# $x \mid z \sim \mathcal{N}(z, s^2)$, so $p(x) = \mathcal{N}(x; 0, 1 + s^2)$. For one
# observation we repeat each estimator 20,000 times and average. The report's version (no
# logarithm) estimates $p(x)$ itself, a different quantity; the corrected one sits below the
# truth, by less as $L$ grows:

# %%
from torch.distributions import Normal

s, x_obs, repeats = 0.3, 1.5, 20_000
exact = Normal(0.0, math.sqrt(1 + s**2)).log_prob(torch.tensor(x_obs)).item()
gen = torch.Generator().manual_seed(0)
se = lambda v: v.std() / math.sqrt(repeats)  # standard error of a mean over the repeats
print(f"exact log p(x) = {exact:.4f} nats,  p(x) = {math.exp(exact):.4f}  ({repeats:,} repeats; ± one standard error)")
print("     L   log((1/L) sum p(x|z_i))      bias     (1/L) sum p(x|z_i)")
for L in [1, 10, 100, 1000]:
    z = torch.randn(repeats, L, generator=gen, dtype=torch.float64)
    log_lik = Normal(z, s).log_prob(torch.tensor(x_obs, dtype=torch.float64))
    log_est = torch.logsumexp(log_lik, dim=1) - math.log(L)
    report_est = log_lik.exp().mean(dim=1)
    print(f"{L:6d}   {log_est.mean():8.4f} ± {se(log_est):.4f}   {log_est.mean() - exact:+8.4f}   "
          f"{report_est.mean():.4f} ± {se(report_est):.4f}")

# %% [markdown]
# On the trained VAE the same picture, far worse: both estimators for four test digits, each
# repeated 20 times at every sample size so that the spread is visible.

# %% tags=["hide-input"]
test_x = data.binarize(data.load_mnist("test").images)[:n_test]
digits = test_x[:4]
sizes = [1, 10, 100, 1000] if quick else [1, 10, 100, 1000, 10_000]
repeats = 5 if quick else 20
torch.manual_seed(seed)
naive = {L: torch.stack([vae.prior_log_likelihood(model, digits, samples=L) for _ in range(repeats)]) for L in sizes}
is_ref = vae.log_likelihood(model, digits, k=is_samples)
fig = figures.naive_vs_importance(sizes, naive, is_ref, k=is_samples)

# %%
L_max = sizes[-1]
gap = (is_ref - naive[L_max].mean(0))
print(f"with L = {L_max:,} prior samples the naive estimate is still below the importance-sampling one by "
      f"{gap.min():.1f} to {gap.max():.1f} nats")
gain = naive[L_max].mean(0) - naive[sizes[-2]].mean(0)  # the last two sizes are a factor 10 apart
print("from L =", f"{sizes[-2]:,} to {L_max:,} it gains only", ", ".join(f"{g:.1f}" for g in gain.tolist()), "nats")
# Glued at the precision the text shows them: the digits beyond change with the thread count.
glue("naive_gain_low", round(gain.min().item(), 1), display=False)
glue("naive_gain_high", round(gain.max().item(), 1), display=False)
glue("naive_gap_low", round(gap.min().item()), display=False)
glue("naive_gap_high", round(gap.max().item()), display=False)
decades = gap / gain.clamp(min=1e-6)  # further tenfold increases of L needed if each kept buying what the last one did
glue("naive_decades_low", round(decades.min().item(), 1), display=False)
glue("naive_decades_high", round(decades.max().item(), 1), display=False)
glue("naive_factor_low", float(f"{10 ** decades.min().item():.2g}"), display=False)  # two significant digits
glue("naive_factor_high", float(f"{10 ** decades.max().item():.2g}"), display=False)

# %% [markdown]
# The naive curve creeps upwards, always below the importance-sampling value: the last tenfold
# increase of $L$ bought only {glue:text}`naive_gain_low:.1f` to {glue:text}`naive_gain_high:.1f`
# nats, while {glue:text}`naive_gap_low:.0f` to {glue:text}`naive_gap_high:.0f` nats are still
# missing. Even if every further tenfold increase kept buying as much as the last one (it buys
# less each time), closing the gaps would take {glue:text}`naive_decades_low:.1f` to
# {glue:text}`naive_decades_high:.1f` more of them, that is about {glue:text}`naive_factor_low:,.0f` to
# {glue:text}`naive_factor_high:,.0f` times as many samples as the largest $L$ here, and more in
# truth. Importance sampling with the encoder gets there with a few thousand.
#
# (q1-5)=
# ## Q1.5 The KL divergence between two Gaussians
#
# *(a) For $q = \mathcal{N}(\mu_q, \sigma_q^2)$ and $p = \mathcal{N}(0, 1)$, which $(\mu_q, \sigma_q)$
# make $D_{\mathrm{KL}}(q \,\|\, p)$ small, which make it large? (b) Give the closed form.*
#
# (b) first, because it answers (a):
#
# $$
# D_{\mathrm{KL}}(q \,\|\, p) = \tfrac12 \big(\sigma_q^2 + \mu_q^2 - \log \sigma_q^2 - 1\big) \ \text{nats},
# $$
#
# and for a diagonal Gaussian in $D$ dimensions the per-dimension terms add up
# (`vae.kl_standard_normal`). (a) It is zero exactly at $\mu_q = 0, \sigma_q = 1$. It grows
# without bound in three ways: as $|\mu_q|$ grows (the $\mu_q^2$ term, quadratically), as
# $\sigma_q \to 0$ (the $-\log \sigma_q^2$ term, only logarithmically: $q$ piles its mass on a
# sliver of $p$) and as $\sigma_q \to \infty$ (the $\sigma_q^2$ term: $q$ spreads where $p$ has
# almost no mass).
#
# ```{admonition} Correction
# :class: warning
# The report makes the divergence large "with $\mu \to \infty$ and $\sigma_q = \mu_q$". That
# ties the two parameters together for no reason. Any of the three directions above suffices;
# concrete pairs and their values are computed below.
# ```
#
# First a check that the closed form is right: a Monte Carlo estimate
# $\frac1N \sum_i \big[\log q(z_i) - \log p(z_i)\big]$ with $z_i \sim q$ and $N = 10^6$.

# %%
from gengen_lib.densities import gaussian_log_prob, standard_normal_log_prob

gen = torch.Generator().manual_seed(0)
print(" mu_q  sigma_q   closed form   Monte Carlo (N = 1e6)")
for mu_q, sigma_q in [(0.0, 1.0), (1.0, 1.0), (0.5, 0.5), (-2.0, 3.0), (3.0, 0.2)]:
    mu, logvar = torch.tensor([[mu_q]], dtype=torch.float64), torch.tensor([[2 * math.log(sigma_q)]], dtype=torch.float64)
    closed = vae.kl_standard_normal(mu, logvar).item()
    z = mu + sigma_q * torch.randn(1_000_000, 1, generator=gen, dtype=torch.float64)
    mc = (gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)).mean().item()
    print(f"{mu_q:5.1f}  {sigma_q:7.2f}   {closed:11.4f}   {mc:11.4f}")

# %%
print("pairs that make KL(q || p) large:")
for mu_q, sigma_q in [(10.0, 1.0), (0.0, 0.01), (0.0, 100.0), (10.0, 0.01)]:
    kl = 0.5 * (sigma_q**2 + mu_q**2 - math.log(sigma_q**2) - 1)
    print(f"  mu = {mu_q:5.1f}, sigma = {sigma_q:6.2f}:  KL = {kl:9.2f} nats")

# %% tags=["hide-input"]
fig, (kl_min, mu_min, sigma_min) = figures.kl_heatmap(vae.kl_standard_normal)
print(f"smallest KL on the grid: {kl_min:.4f} nats at mu = {mu_min:.2f}, sigma = {sigma_min:.2f} (the star)")

# %% [markdown]
# (q1-6)=
# ## Q1.6 The evidence lower bound
#
# *Why is $\mathbb{E}_{q}[\log p(x \mid z)] - D_{\mathrm{KL}}(q(z \mid x) \,\|\, p(z))$ a lower bound on $\log p(x)$?*
#
# Write $\log p(x)$ as an expectation under any $q(z \mid x)$ and insert
# $p(z \mid x) = p(x \mid z)p(z)/p(x)$:
#
# $$
# \log p(x)
# = \underbrace{\mathbb{E}_{q}\big[\log p(x \mid z)\big] - D_{\mathrm{KL}}\big(q(z \mid x) \,\|\, p(z)\big)}_{\text{ELBO}}
# \;+\; \underbrace{D_{\mathrm{KL}}\big(q(z \mid x) \,\|\, p(z \mid x)\big)}_{\ge\, 0}.
# $$
#
# The last term is a KL divergence, never negative, so the ELBO is below $\log p(x)$, and the
# gap is exactly how far $q$ is from the true posterior.
#
# (q1-7)=
# ## Q1.7 Why not maximise $\log p(x)$ directly?
#
# Because $\log p(x) = \log \int p(x \mid z) p(z)\, dz$ has no closed form for a neural
# decoder, and neither has the posterior $p(z \mid x) = p(x \mid z)p(z)/p(x)$, whose
# normaliser is that same integral. Q1.4 showed that even estimating it by brute force is
# hopeless; optimising it would need that estimate and its gradient at every step.
#
# (q1-8)=
# ## Q1.8 What happens when we push the ELBO up?
#
# Raising the ELBO can happen in two ways, and both are good: $\log p(x)$ goes up (the
# model explains the data better), or the gap $D_{\mathrm{KL}}(q \,\|\, p(z \mid x))$ goes
# down (the encoder becomes a better approximate posterior). We never need the intractable
# posterior itself: the ELBO only involves $q$, the prior and the decoder.
#
# How large is the gap on the trained model? The importance-sampling estimate of Q1.4 is a
# tighter bound (in expectation it lies between the ELBO and $\log p(x)$), so the difference
# between the two is a lower bound on the gap:

# %%
live = vae.test_set_metrics(model, settings, k=is_samples, n=n_live, seed=seed, cache=False)
if pretrained and shipped.shipped_name(settings):  # the whole test set, measured once: python -m gengen_lib evaluate vae
    test_metrics, where = shipped.manifest()[shipped.shipped_name(settings)]["metrics"], "weights/manifest.json"
else:  # computed once per trained run and cached in its run folder
    test_metrics, where = vae.test_set_metrics(model, settings, k=is_samples, n=n_test, seed=seed), "runs/"
for name, m in [(f"live, first {live['n']:,} test images", live), (f"all {test_metrics['n']:,} (from {where})", test_metrics)]:
    print(f"{name:<38} ELBO {m['elbo']:8.2f}   log p(x), k={m['k']}: {m['ll']:8.2f} ± {m['ll_sem']:.2f} nats")
agree = abs(live["ll"] - test_metrics["ll"]) <= 3 * math.hypot(live["ll_sem"], test_metrics["ll_sem"])
print(f"the two estimates agree within 3 standard errors: {agree} (live estimate: {live['seconds']:.0f} s)")
print(f"gap (a lower bound on the mean KL(q || posterior)): {test_metrics['ll'] - test_metrics['elbo']:.2f} nats")
glue("test_ll", test_metrics["ll"], display=False)
glue("test_ll_sem", test_metrics["ll_sem"], display=False)
glue("test_gap", test_metrics["ll"] - test_metrics["elbo"], display=False)

# %% [markdown]
# (q1-9)=
# ## Q1.9 The two terms of the loss
#
# With one sample $z \sim q_\phi(z \mid x)$ the loss of one image is
#
# $$
# \mathcal{L}(x) = \underbrace{-\log p_\theta(x \mid z)}_{\text{reconstruction}}
# + \underbrace{D_{\mathrm{KL}}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{regularisation}} .
# $$
#
# The reconstruction term is small when the decoder, given a code drawn for $x$, assigns high
# probability to that same observation $x$: the image is "reconstructed".
#
# ```{admonition} Correction
# :class: warning
# The report says the model must assign high density "to the observation $z$". The observation
# is $x$; $z$ is the latent variable it is conditioned on.
# ```
#
# The KL term pulls each image's posterior towards the prior. Without it the encoder could
# give every image its own tiny, far-away region of latent space (a plain autoencoder);
# with it, codes stay in the region the prior samples from, which is what makes decoding prior
# samples meaningful.
#
# (q1-10)=
# ## Q1.10 Computing the loss, step by step
#
# For one image $x$:
#
# 1. **Encoder pass.** $\mu_e = \mu_\phi(x)$ and $\log \sigma_e^2 = \log \sigma^2_\phi(x)$, both in $\mathbb{R}^D$.
# 2. **Sample** $z_i \sim \mathcal{N}(\mu_e, \operatorname{diag}(\sigma_e^2))$, $i = 1..L$ (we use $L = 1$).
# 3. **Decoder pass.** Logits $\ell_i = \operatorname{logit} f_\theta(z_i) \in \mathbb{R}^{784}$.
# 4. **Reconstruction.** $-\frac1L \sum_i \sum_m \big[x^{(m)} \log \sigma(\ell_i^{(m)}) + (1 - x^{(m)}) \log (1 - \sigma(\ell_i^{(m)}))\big]$,
#    computed from the logits with `binary_cross_entropy_with_logits`, which never takes the
#    logarithm of a rounded sigmoid.
# 5. **KL.** $\frac12 \sum_{d=1}^{D} \big(\sigma_{e,d}^2 + \mu_{e,d}^2 - \log \sigma_{e,d}^2 - 1\big)$.
#
# ```{admonition} Correction
# :class: warning
# The report's first step is "a forward pass through the *decoder* with the observation $x$";
# it is the *encoder* that reads $x$. It also writes the covariance as
# $\operatorname{diag}(\sigma_e)$: the covariance holds *variances*, $\operatorname{diag}(\sigma_e^2)$.
# Mixing up a standard deviation and a variance silently changes the model.
# ```
#
# This is `VAE.elbo_terms` in `gengen_lib/vae.py`. On a batch of test images:

# %%
torch.manual_seed(seed)
parts = model.elbo_terms(test_x[:5])
for i in range(5):
    print(f"image {i}: reconstruction {parts.reconstruction[i]:8.2f}  KL {parts.kl[i]:6.2f}  "
          f"ELBO {parts.elbo[i]:8.2f} nats")

# %% [markdown]
# (q1-11)=
# ## Q1.11 The reparameterization trick
#
# *Why do we need $\nabla_\phi \mathcal{L}$, and why is it a problem?*
#
# The encoder's parameters $\phi$ affect the loss through the KL term (easy, closed form) and
# through the distribution the reconstruction term is averaged over: $\nabla_\phi \mathbb{E}_{q_\phi}[\log p(x \mid z)]$.
# A sample $z \sim q_\phi$ has no derivative with respect to $\phi$, so backpropagation stops
# at the sampling step.
#
# Two unbiased ways around it:
#
# * **Score function** (REINFORCE): $\nabla_\phi \mathbb{E}_{q}[f(z)] = \mathbb{E}_{q}[f(z)\, \nabla_\phi \log q_\phi(z)]$.
#   Works for any $q$, but multiplies a large, noisy number $f(z) = \log p(x \mid z) \approx -100$
#   with a noisy direction.
# * **Reparameterization**: write $z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon$ with
#   $\varepsilon \sim \mathcal{N}(0, I)$. The randomness no longer depends on $\phi$, so
#   $\nabla_\phi \mathbb{E}_{\varepsilon}[f(\mu + \sigma\varepsilon)] = \mathbb{E}_{\varepsilon}[\nabla_\phi f(\mu + \sigma\varepsilon)]$:
#   backpropagation goes straight through the sample and uses the decoder's own gradient.
#
# Both estimate the same vector. How noisy is each? For one test digit, 10,000 single-sample
# gradient estimates with respect to the encoder outputs $(\mu, \log \sigma^2)$:

# %%
g = torch.Generator().manual_seed(seed)
x0 = test_x[0]
grads = {name: vae.reconstruction_gradients(model, x0, 2000 if quick else 10_000, name, g)
         for name in ("reparameterization", "score_function")}
for name, gr in grads.items():
    print(f"{name:>18}: mean |grad| {gr.mean(0).abs().mean():8.3f},  mean variance per coordinate {gr.var(0).mean():12.2f}")
n_draws = len(grads["score_function"])
ratio = grads["score_function"].var(0).mean() / grads["reparameterization"].var(0).mean()
stderr = ((grads["score_function"].var(0) + grads["reparameterization"].var(0)) / n_draws).sqrt()
z_scores = (grads["score_function"].mean(0) - grads["reparameterization"].mean(0)).abs() / stderr
print(f"the score-function estimator's variance is {ratio:,.0f} times larger;")
glue("grad_var_ratio", round(ratio.item()), display=False)  # as the text shows it (the digits beyond vary)
print(f"the two mean gradients agree: differences of {z_scores.median():.1f} standard errors (median over "
      f"{len(z_scores)} coordinates, largest {z_scores.max():.1f}), as expected of two unbiased estimators")

# %% [markdown]
# The score-function estimator is unbiased too, but here its variance is
# {glue:text}`grad_var_ratio:,.0f` times larger: to average it down to the same gradient
# quality, training would need that many more samples per step. That is why every VAE uses the reparameterization trick when the
# posterior family allows it.
#
# (q1-12)=
# ## Q1.12 The model we train
#
# The report's architecture, which `gengen_lib.vae.VAE` implements:
#
# | part | layers |
# |---|---|
# | encoder | 784 → 500 (ReLU) → 2 × 20 (mean and $\log \sigma^2$) |
# | decoder | 20 → 500 (ReLU) → 784 Bernoulli logits |
# | training | Adam, learning rate $10^{-3}$, batch 128, one latent sample per image |
# | data | 50,000 training images, binarized afresh every epoch; 10,000 validation and 10,000 test images, binarized once with a fixed seed |
#
# Predicting $\log \sigma^2$ rather than $\sigma$ keeps the variance positive without a
# constraint and keeps gradients well scaled. Training goes through the shared loop in
# `gengen_lib.training` (progress bar, checkpoint every epoch, resume, NaN guard).
#
# ```{admonition} A change of convention: dynamic binarization
# :class: note
# The report binarizes the training set once. We draw a new binary image from each digit's
# grey levels every time it is used (`VAESettings(dynamic_binarization=True)`, the default),
# so over 100 epochs the model sees 100 binary versions of every digit and memorises none of
# them. Evaluation is unchanged: validation and test images keep one fixed binarization, so the
# likelihoods below compare with the report's and with the literature's "statically binarized"
# numbers. With the fixed training binarization (`dynamic_binarization=False`) the model can
# memorise its 50,000 binary images instead; the course ships no such model, so how far its
# training ELBO would pull away from the validation ELBO is yours to measure.
# ```

# %%
print(model)
print(f"parameters: {runs.count_parameters(model):,}")

# %% [markdown]
# (q1-13)=
# ## Q1.13 Training curves, and what "good" means
#
# *Where should the ELBO start, and what should it beat?*
#
# A freshly initialised decoder outputs probabilities near ½ for every pixel, whatever the data.
# Then $\log p(x \mid z) \approx \sum_{m} \log \tfrac12 = -784 \ln 2 \approx -543.4$ nats, so
# the **negative** ELBO starts near 543 nats and training must push it well below.
#
# ```{admonition} Correction
# :class: warning
# The report writes $\sum_m [x \log 0.5 + (1 - x)\log 0.5] \approx 543$ using the data mean
# 0.1306, and says the ELBO should be "below this value". The sum is $-543.4$, not $+543$, and
# the data mean plays no role: $x \log 0.5 + (1-x) \log 0.5 = \log 0.5$ for every pixel. It is
# the *negative* ELBO that starts near 543.4 nats and must fall below it (equivalently, the
# ELBO rises above $-543.4$).
# ```
#
# A stricter bar is the per-pixel marginal model of the data chapter, which knows where ink
# usually is but nothing about strokes:

# %%
train_b = data.binarize(data.load_mnist("train").images)
valid_b = data.binarize(data.load_mnist("valid").images)
random_model_ll = -784 * math.log(2)
marginal_ll = -baselines.bernoulli_nll(valid_b, baselines.pixel_marginals(train_b)).mean().item()
print("log-likelihood of a validation image, in nats:")
print(f"  uniform model (every pixel 1/2):   {random_model_ll:8.2f}   (-784 ln 2)")
print(f"  per-pixel marginal model:          {marginal_ll:8.2f}")

# %% tags=["hide-input"]
fig, axes = plt.subplot_mosaic([["a", "a"], ["b", "c"]], figsize=(plots.COLUMN_INCHES, 6.2), layout="constrained")
ax1, ax2, ax3 = axes["a"], axes["b"], axes["c"]
plots.plot_curves(ax1, {"train ELBO": history.curve("elbo"), "validation ELBO": history.curve("valid_elbo")},
                  ylabel="ELBO [nats per image]")
ax1.set_title(f"(a) ELBO per epoch (uniform model: {random_model_ll:.1f}, per-pixel marginals: {marginal_ll:.1f})")
for ax, key, sign, title in [(ax2, "reconstruction", -1, "(b) reconstruction, -E[log p(x|z)]"),
                             (ax3, "kl", 1, "(c) KL(q(z|x) || p(z))")]:
    step, value = plots.log_binned([sign * v for v in history.steps[key]])
    ax.plot(step, value, color="tab:red" if key == "kl" else "tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("training step (log scale)")
    ax.set_ylabel("nats per image")
    ax.set_title(title)
    ax.grid(alpha=0.3)
ax3.set_ylim(bottom=0)
kl_steps = [v for v in history.steps["kl"]]
early = torch.tensor(kl_steps[:100])
spike_step = int(early.argmax())
glue("kl_spike", early.max().item(), display=False)
glue("kl_spike_step", spike_step + 1, display=False)
glue("kl_dip", early[spike_step:].min().item(), display=False)
glue("kl_dip_step", spike_step + int(early[spike_step:].argmin()) + 1, display=False)
elbo, valid_elbo = history.curve("elbo"), history.curve("valid_elbo")
alt_text.describe(fig, f"Three panels. (a) Training and validation ELBO in nats per image for each of {len(elbo)} "
                       f"epochs, ending at {elbo[-1]:.1f} (train) and {valid_elbo[-1]:.1f} (validation), far above "
                       f"the uniform model's {random_model_ll:.1f} and the per-pixel marginals' {marginal_ll:.1f}. "
                       f"(b) The reconstruction cost and (c) the KL term per training step on a log axis: the "
                       f"reconstruction cost falls from {-history.steps['reconstruction'][0]:.0f} nats while the KL "
                       f"term rises from {kl_steps[0]:.1f} to a peak of {max(kl_steps):.1f} and ends at "
                       f"{kl_steps[-1]:.1f} nats.")  # fmt: skip
plots.glue_figure("fig-vae-curves", fig)

# %% [markdown]
# ```{glue:figure} fig-vae-curves
# :name: fig-vae-curves
#
# Training curves of the 20-d VAE (the report's Figure 1).
# ```
#
# The ELBO clears both baselines within the first epoch. The training ELBO is measured on
# freshly binarized images every epoch (dynamic binarization, Q1.12), the validation ELBO on
# the fixed binarization, and the two stay close: the model is not memorising its training
# set. Panels (b) and (c) show the two terms trading off, step by step on a logarithmic axis so
# that the first hundred steps are visible: the KL term *rises* from near zero as the encoder
# learns to put information about each image into its code, and that information buys a much
# larger drop in reconstruction cost. Before that steady rise, panel (c) shows a transient:
# around step {glue:text}`kl_spike_step` the KL term jumps to {glue:text}`kl_spike:.0f` nats, and
# by step {glue:text}`kl_dip_step` it is back at {glue:text}`kl_dip:.0f`. A likely reading: Adam's
# first steps are about equally large for every weight, so the untrained encoder's means and
# variances swing away from the prior before the decoder can use them, and the KL gradient
# pulls them back; after that the code carries only information the reconstruction pays for.
# A KL term stuck at zero would signal "posterior
# collapse", the decoder ignoring $z$; with pixels independent given $z$ the decoder has no
# way to model digits without it, and the curve shows it does not collapse.
#
# (q1-14)=
# ## Q1.14 Samples during training
#
# Means $f_\theta(z)$ (upper half of each panel: what the decoder "thinks") and binary samples
# (lower half: what the model actually generates), for the same 16 prior draws before
# training, halfway and at the end:

# %% tags=["hide-input"]
fig = plots.show_snapshots(history, suffix=" (means, then samples)", size=4.0,
                           finding="Grey noise at the start, recognisable digits halfway, sharper strokes at the end; "
                           "in each panel the upper half holds means, the lower half binary samples of the same codes.")
plots.glue_figure("fig-vae-samples", fig)

# %% [markdown]
# ```{glue:figure} fig-vae-samples
# :name: fig-vae-samples
#
# Prior samples of the VAE before training, halfway and at the end (the report's Figure 2).
# ```
#
# Before training the means are uniform grey and the samples salt-and-pepper noise. Halfway
# most samples are recognisable digits; at the end strokes are sharper. Some draws stay
# ambiguous: the prior also covers codes that lie between the regions the encoder uses, and
# the decoder turns those into blends of digits. The binary samples look noisier than the
# means because every pixel is an independent coin flip given $z$.
#
# (q1-15)=
# ## Q1.15 The learned manifold
#
# With a **2-dimensional** latent space we can look at the whole generative map at once.
# We train the same model with $D = 2$, take a 20 × 20 grid of probabilities in
# $[0.05, 0.95]^2$, map them through the inverse CDF of the standard normal (so the grid
# covers the prior's mass evenly), and decode each point to its pixel means. On the right,
# the posterior means of test images, coloured by their label.

# %%
settings_2d = vae.VAESettings.for_mode(quick, z_dim=2, seed=seed)
model_2d, history_2d = shipped.load_or_train("vae", settings_2d, pretrained=pretrained, device=device, quiet=quick)
model_2d = model_2d.cpu()
print(f"2-d model: validation ELBO {history_2d.epochs[-1]['valid_elbo']:.2f} nats after {len(history_2d.epochs)} epochs")

# %% tags=["hide-input"]
codes, labels = vae.encode_means(model_2d, test_x), data.load_mnist("test").labels[:n_test]
fig = figures.latent_manifold(lambda z: torch.sigmoid(model_2d.decode(z)), vae.latent_grid(20), codes, labels)
plots.glue_figure("fig-vae-manifold", fig)

# %% [markdown]
# ```{glue:figure} fig-vae-manifold
# :name: fig-vae-manifold
#
# The learned 2-d latent manifold (the report's Figure 3).
# ```
#
# Neighbouring codes decode to similar images and the classes form contiguous regions that
# blend into each other, which is exactly why interpolating in latent space gives smooth
# transitions. Two dimensions are too few to keep all classes apart (4s and 9s, 3s, 5s and 8s
# share borders), which is why the 2-d model's ELBO is far below the 20-d one's.
#
# ## Explore the latent space yourself
#
# Below, the 20-d model moved along the five leading principal directions of its test-set
# codes (the directions in which the encoder spreads images most), from the mean code, in
# units of the codes' standard deviation. To move through the
# latent space yourself, open the [latent explorer](../book/explorer.md), which decodes in
# this page, or run this notebook in JupyterLab (`make lab`), where sliders for both models
# appear under the figure.

# %% tags=["hide-input"]
center, directions = vae.principal_directions(model, test_x, k=5)[:2]
decode_means = lambda net: (lambda z: torch.sigmoid(net.decode(z)))
steps = torch.linspace(-2, 2, 9)
with torch.no_grad():
    walk = torch.cat([decode_means(model)(center + steps[:, None] * d) for d in directions])
fig = plots.show_grids({"principal directions 1 to 5 (rows), -2 to +2 standard deviations (columns)": walk},
                       nrow=len(steps), size=6.0, finding="Each row morphs one digit shape into another along "
                       "one direction of the codes' spread.")  # fmt: skip

# %% tags=["nbval-ignore-output", "remove-output"]
# nbval-ignore-output: a live widget; its view has a random id and is not stored, so there is nothing to compare
# Sliders that run Python: they react in JupyterLab (make lab) only, so this page shows no output here.
widgets_2d = widgets.latent_explorer(decode_means(model_2d), torch.eye(2))
widgets_20d = widgets.latent_explorer(decode_means(model), directions, origin=center,
                                      names=[f"PC {i + 1}" for i in range(5)])
import ipywidgets as W
W.HBox([widgets_2d, widgets_20d], layout=W.Layout(gap="40px"))

# %% [markdown]
# ## Results
#
# All numbers in nats per image on the test set (10,000 binarized images in full mode),
# produced by the cells above.

# %%
last = history.epochs[-1]
rows = [
    ("latent dimension", f"{settings.z_dim}"),
    ("epochs", f"{len(history.epochs)}"),
    ("training ELBO (last epoch, dynamic binarization)", f"{last['elbo']:.2f}"),
    ("validation ELBO (last epoch)", f"{last['valid_elbo']:.2f}"),
    ("test ELBO", f"{test_metrics['elbo']:.2f}"),
    (f"test log-likelihood, importance sampling k={test_metrics['k']}", f"{test_metrics['ll']:.2f} ± {test_metrics['ll_sem']:.2f}"),
    ("test NLL in bits/dim of the binary images", f"{-test_metrics['ll'] / (784 * math.log(2)):.4f}"),
    ("training time", f"{history.seconds:.0f} s ({history.seconds / len(history.epochs):.1f} s per epoch)"),
    ("throughput", f"{sum(e['images_per_s'] for e in history.epochs) / len(history.epochs):,.0f} images/s"),
    ("device of this notebook run", runtime.describe_device(device)),
]
plots.print_table(rows)

# %% [markdown]
# ## What to remember
#
# * A VAE is a latent-variable model $p(z)p_\theta(x \mid z)$ plus an inference network $q_\phi(z \mid x)$; the ELBO trains both.
# * $\log p(x) = \text{ELBO} + D_{\mathrm{KL}}(q \,\|\, p(z \mid x))$; importance sampling with $q$ as proposal gives a tighter, consistent estimate.
# * Monte Carlo from the prior needs the logarithm *outside* the average (and `logsumexp`), and is hopeless in practice.
# * The reparameterization trick gives gradients with orders of magnitude less variance than the score function.
# * Always compare with the baselines: $-543.4$ nats (uniform) and the per-pixel marginals.
