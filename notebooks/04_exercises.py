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
# # Exercises
#
# Reading a derivation and writing it are two different skills, and only the second one
# tells you whether you understood the first. This page asks you to write the pieces of
# the models yourself, in PyTorch, and a checker grades each piece. There are eighteen
# exercises: five for each of the report's three model families, and three on flow matching.
# Among the first fifteen, per family:
#
# - three **short** ones, a single function each (a KL term, a loss, a coupling layer...);
# - two **multi-step** ones, where several functions fit together and the last check
#   measures what they achieve: an ELBO reached by a VAE trained with your own training
#   step, your importance-sampling estimate a few hundredths of a nat from an exact
#   log-likelihood, your coupling layers' log-determinant against autograd's, a bits/dim
#   value you can predict before you compute it.
#
# ## How to work on this page
#
# The book's page is static: nothing runs in it. It shows what a fresh copy of the
# notebook prints, so every checker below still says "not yet correct" (the last cell
# shows what the library's own functions reach in the multi-step exercises). To run it:
#
# - **from a copy of the course**: `make lab` opens JupyterLab on the notebooks in the
#   course's environment; open `04_exercises.ipynb`;
# - **from this page**: the download button at the top of the page (the arrow, then
#   `.ipynb`) saves the notebook; open it with `jupyter lab 04_exercises.ipynb` in the
#   course's virtual environment (`.venv/bin/jupyter lab`), where `gengen_lib` is installed.
#
# Two kinds of code cells alternate. A **stub cell** holds a function whose body is marked
# `# TODO`: it runs, but returns the wrong thing. It is yours: replace the body, run the
# cell. The **check cell** after it starts with `# check`: run it, but leave it as it is. It
# calls your function on five random inputs of its own (a fixed seed, so the verdict does not
# depend on what ran before) and prints one line: ✓, or what is off — a wrong shape, the
# wrong sign, a constant factor, NaN, an exception, a gradient that does not flow, or a
# mistake typical of that exercise, named. Each statement has a folded **Hint**, and each
# exercise a folded **Solution** below its check, to open when you are done or stuck.
#
# Later exercises call your earlier functions: the VAE's training step uses your
# `reparameterize` and your loss, the importance sampler your Gaussian log-density. Run the
# notebook from the top. Shapes are written $(N, D)$ for $N$ examples of dimension $D$;
# log-densities are in nats (natural logarithms) unless a name says bits. One exercise
# trains a small VAE for about fifteen seconds; set `quick = True` below (or the
# environment variable `GENGEN_QUICK=1`) for a shorter run with a lower target.

# %% tags=["parameters"]
seed = 0
quick = False

# %%
# math and F (torch's functions, such as losses) are there for your solutions
import math  # noqa: F401

import torch
import torch.nn.functional as F  # noqa: F401

from gengen_lib import exercises, runtime

quick = runtime.quick_mode(default=quick)
runtime.seed_everything(seed)


# %% [markdown]
# ## Variational autoencoders
#
# The encoder maps an image $x$ to the mean $\mu$ and the log-variance $\log \sigma^2$
# (`logvar`) of a diagonal Gaussian $q(z \mid x) = \mathcal{N}(\mu, \operatorname{diag}(\sigma^2))$
# over the latent code $z \in \mathbb{R}^D$; the prior is $p(z) = \mathcal{N}(0, I)$.

# %% [markdown]
# ### Exercise 1.1: the KL term of the ELBO
#
# The ELBO is a reconstruction term minus $\mathrm{KL}(q(z \mid x) \,\|\, p(z))$. For two
# Gaussians the KL divergence has a closed form. Both are diagonal, so it is a sum of
# one-dimensional terms, and for one dimension
#
# $$
# \mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, 1)\big)
# = \tfrac{1}{2}\left(\sigma^2 + \mu^2 - \log \sigma^2 - 1\right).
# $$
#
# Write `kl_standard_normal(mu, logvar)`: `mu` and `logvar` have shape $(N, D)$; return
# the KL divergence of each of the $N$ examples, shape $(N,)$, in nats.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# `logvar` holds $\log \sigma^2$, so $\sigma^2$ is `logvar.exp()` and $\log \sigma^2$ is `logvar`
# itself: no square root and no logarithm are needed. Write the bracket elementwise, then sum
# over the last axis, `dim=-1`.
# ````

# %%
def kl_standard_normal(mu, logvar):
    # TODO: the closed form above, one value per example
    return torch.zeros(mu.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_kl_standard_normal(kl_standard_normal)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def kl_standard_normal(mu, logvar):
#     return 0.5 * (logvar.exp() + mu**2 - logvar - 1).sum(dim=-1)
# ```
#
# `logvar` is $\log \sigma^2$, so $\sigma^2$ is `logvar.exp()`. The sum runs over the last
# axis, the $D$ latent dimensions, and leaves one number per example.
# ````

# %% [markdown]
# ### Exercise 1.2: the reparameterization trick
#
# To differentiate the ELBO through a sample $z \sim q(z \mid x)$, write the sample as a
# deterministic function of $(\mu, \sigma)$ and of noise that does not depend on them:
#
# $$
# z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal{N}(0, I),
# \qquad \sigma = \exp(\tfrac{1}{2} \log \sigma^2).
# $$
#
# Write `reparameterize(mu, logvar, eps)`. The noise `eps` is an argument (in the library
# it is drawn inside), so the answer is exactly checkable. All three inputs and the output
# have shape $(N, D)$.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# $\sigma = e^{\frac{1}{2} \log \sigma^2}$ is `torch.exp(0.5 * logvar)`; the rest is elementwise.
# ````

# %%
def reparameterize(mu, logvar, eps):
    # TODO: shift and scale the noise
    return torch.zeros_like(mu)


# %%
# check: run this cell, do not edit it
exercises.check_reparameterize(reparameterize)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def reparameterize(mu, logvar, eps):
#     return mu + torch.exp(0.5 * logvar) * eps
# ```
#
# The noise is scaled by the standard deviation $\sigma = e^{\log \sigma^2 / 2}$, not by
# the variance. Gradients reach `mu` and `logvar`; `eps` is a constant.
# ````

# %% [markdown]
# ### Exercise 1.3: an importance-sampled log-likelihood
#
# The ELBO only bounds $\log p(x)$. Drawing $k$ codes $z_1, \dots, z_k$ from $q(z \mid x)$
# gives the estimate
#
# $$
# \log p(x) \approx \log \frac{1}{k} \sum_{i=1}^{k} \frac{p(x \mid z_i)\, p(z_i)}{q(z_i \mid x)},
# $$
#
# which approaches $\log p(x)$ as $k$ grows. Write
# `importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z)`: each input has shape
# $(k, N)$ and holds the log-densities at the $k$ samples (rows) for each of $N$ images
# (columns); return the $(N,)$ estimates in nats.
#
# For MNIST the log-weights are around $-130$ and $e^{-130}$ is $0$ in 32-bit floating
# point, so never leave the log domain: `torch.logsumexp` computes
# $\log \sum_i e^{a_i}$ stably.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# First the log-weights, `log_p_x_given_z + log_p_z - log_q_z`, of shape $(k, N)$. The log of
# their *sum* over the samples is `torch.logsumexp(log_w, dim=0)`, and the average's
# $\frac{1}{k}$ becomes $-\log k$.
# ````

# %%
def importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z):
    # TODO: the log of the average importance weight, per image
    return torch.zeros(log_p_z.shape[1])


# %%
# check: run this cell, do not edit it
exercises.check_importance_log_likelihood(importance_log_likelihood)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z):
#     k = log_p_z.shape[0]
#     log_w = log_p_x_given_z + log_p_z - log_q_z
#     return torch.logsumexp(log_w, dim=0) - math.log(k)
# ```
#
# The average's $\frac{1}{k}$ becomes $-\log k$. With $k = 1$ this is the one-sample ELBO
# estimate. The mean of the log-weights, instead of the log of their mean, would estimate
# the ELBO whatever $k$: by Jensen's inequality it is the smaller of the two.
# ````

# %% [markdown]
# ### Exercise 1.4 (multi-step): train a tiny VAE with your own loss
#
# The three pieces so far are most of a VAE's training loop. Two more, and a VAE learns
# from your code alone: the checker at the end trains one with your training step and
# then measures its ELBO on validation images with the library's own code, so a loss that
# is wrong cannot grade itself.
#
# **Step a: the reconstruction term.** The decoder returns one logit $\ell_m$ per pixel;
# pixel $m$ of a binary image is 1 with probability $\operatorname{sigmoid}(\ell_m)$, and
# the pixels are independent given $z$:
#
# $$
# \begin{aligned}
# \log p(x \mid z) = \sum_{m=1}^{784} \Big( & x_m \log \operatorname{sigmoid}(\ell_m) \\
# & + (1 - x_m) \log\big(1 - \operatorname{sigmoid}(\ell_m)\big) \Big).
# \end{aligned}
# $$
#
# Write `bernoulli_log_likelihood(logits, x)`: logits and binary images of shape
# $(N, 784)$ in, $(N,)$ log-likelihoods out, in nats. Some of the checker's logits are
# $\pm 30$, as a confident decoder's are.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# In 32-bit floats $\operatorname{sigmoid}(30)$ is exactly 1, so the formula as written
# takes $\log 0$. The term inside the sum is minus a binary cross-entropy, and
# `F.binary_cross_entropy_with_logits(logits, x, reduction="none")` computes it from the
# logits without ever forming the probability.
# ````

# %%
def bernoulli_log_likelihood(logits, x):
    # TODO: sum over the pixels of log p(x_m | z), stable for large logits
    return torch.zeros(logits.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_bernoulli_log_likelihood(bernoulli_log_likelihood)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def bernoulli_log_likelihood(logits, x):
#     return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)
# ```
#
# The library computes $x \ell - \operatorname{softplus}(\ell)$, the same quantity: for
# $x = 1$ it is $\log \operatorname{sigmoid}(\ell)$ and for $x = 0$ it is
# $\log(1 - \operatorname{sigmoid}(\ell))$, both without a logarithm of a rounded
# probability.
# ````

# %% [markdown]
# **Step b: the loss.** The ELBO of one image is the reconstruction term minus the KL
# term, both evaluated at the encoder's output; an optimiser minimises, so the loss is
# the negative ELBO, averaged over the batch:
#
# $$
# L = -\frac{1}{N} \sum_{n=1}^{N} \Big( \log p(x_n \mid z_n)
# - \mathrm{KL}\big(q(z \mid x_n) \,\|\, p(z)\big) \Big).
# $$
#
# Write `negative_elbo(logits, x, mu, logvar)` from your `bernoulli_log_likelihood` and your
# `kl_standard_normal` of exercise 1.1: logits and images $(N, 784)$, `mu` and `logvar`
# $(N, D)$ in, a single number out (nats per image).
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Two minus signs meet here: one inside the ELBO, in front of the KL term, and one that
# turns the ELBO into a loss. The KL divergence therefore enters the loss with a plus sign.
# A mean over the batch, not a sum, keeps the loss (and the learning rate that suits it)
# independent of the batch size.
# ````

# %%
def negative_elbo(logits, x, mu, logvar):
    # TODO: minus the ELBO, averaged over the batch
    return torch.tensor(0.0)


# %%
# check: run this cell, do not edit it
exercises.check_negative_elbo(negative_elbo)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def negative_elbo(logits, x, mu, logvar):
#     elbo = bernoulli_log_likelihood(logits, x) - kl_standard_normal(mu, logvar)
#     return -elbo.mean()
# ```
#
# For a freshly initialised decoder the reconstruction term is about $-784 \ln 2 \approx -543$
# nats and the KL term a few nats, so the loss starts near 543 and falls from there.
# ````

# %% [markdown]
# **Step c: one training step.** A step encodes the batch, draws $z$ with your
# `reparameterize` of exercise 1.2, decodes it, computes your loss and lets the optimiser
# take one step downhill. Write `training_step(model, optimizer, x, eps)`, where `model`
# has `model.encode(x)` returning `(mu, logvar)` and `model.decode(z)` returning logits,
# `optimizer` is its Adam optimiser, `x` a binary batch $(N, 784)$ and `eps` the noise
# $(N, D)$ for the reparameterization. Return the loss as a Python number. The checker
# compares the parameters after your step with those after the reference step.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# The three optimiser lines come in a fixed order: `optimizer.zero_grad()` (gradients add
# up in `.grad` until cleared, and the checker's model starts with stale ones),
# `loss.backward()`, `optimizer.step()`. `loss.item()` gives the number to return.
# ````

# %%
def training_step(model, optimizer, x, eps):
    # TODO: encode, reparameterize, decode, loss; then zero_grad, backward, step
    return 0.0


# %%
# check: run this cell, do not edit it
exercises.check_training_step(training_step)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def training_step(model, optimizer, x, eps):
#     mu, logvar = model.encode(x)
#     z = reparameterize(mu, logvar, eps)
#     loss = negative_elbo(model.decode(z), x, mu, logvar)
#     optimizer.zero_grad()
#     loss.backward()
#     optimizer.step()
#     return loss.item()
# ```
#
# Returning `loss.item()` rather than the tensor matters in a long loop: a list of loss
# tensors would keep every step's graph alive.
# ````

# %% [markdown]
# **The result.** The cell below trains a VAE with a 16-dimensional latent space and 256
# hidden units for five epochs over 20,000 binarized training images, calling nothing of
# yours but `training_step`, then reports the average ELBO of 1,000 validation images.
# It takes about fifteen seconds on one CPU core. The target, an ELBO above $-125$ nats,
# is what a correct step reaches with room to spare; the VAE chapter's model, trained for
# far longer on all 50,000 images, does better still. In quick mode it trains for three
# short epochs on 3,000 images, and the target is $-190$.

# %%
# check: run this cell, do not edit it
exercises.check_tiny_vae(training_step, quick=quick)


# %% [markdown]
# ### Exercise 1.5 (multi-step): importance sampling against an exact answer
#
# For the VAE of the course, $\log p(x)$ is unknown: the importance-sampling estimate of
# exercise 1.3 is the best number there is, and nothing tells how close it is. A model
# where the answer is known in closed form can. In the **linear-Gaussian model**
#
# $$
# \begin{aligned}
# z &\sim \mathcal{N}(0, I_2), \\
# x \mid z &\sim \mathcal{N}\big(W z + b,\ \operatorname{diag}(\sigma^2)\big), \quad x \in \mathbb{R}^5,
# \end{aligned}
# $$
#
# $x$ is a linear function of Gaussians plus Gaussian noise, so it is Gaussian itself:
# $p(x) = \mathcal{N}(x;\ b,\ W W^\top + \operatorname{diag}(\sigma^2))$. The checker
# computes that exact value and compares your estimate with it. Its proposal
# $q(z \mid x)$ is deliberately imperfect (the exact posterior's mean, but twice its
# variances and none of its correlation), as an encoder's is.
#
# **Step a: a diagonal Gaussian log-density.** Write `gaussian_log_prob(x, mean, logvar)`:
#
# $$
# \begin{aligned}
# & \log \mathcal{N}\big(x;\ \mu, \operatorname{diag}(\sigma^2)\big) \\
# & \quad = -\frac{1}{2} \sum_{d=1}^{D} \Big( \log 2\pi + \log \sigma_d^2 + \frac{(x_d - \mu_d)^2}{\sigma_d^2} \Big).
# \end{aligned}
# $$
#
# The checker gives `x` the shape $(k, N, D)$ ($k$ samples for each of $N$ images) and
# `mean`, `logvar` the shape $(N, D)$; return $(k, N)$.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Write the formula elementwise and sum over `dim=-1`: PyTorch broadcasts $(N, D)$ against
# $(k, N, D)$ by aligning the last axes, so no reshaping is needed.
# ````

# %%
def gaussian_log_prob(x, mean, logvar):
    # TODO: the log-density above, summed over the last axis
    return torch.zeros(x.shape[:-1])


# %%
# check: run this cell, do not edit it
exercises.check_gaussian_log_prob(gaussian_log_prob)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def gaussian_log_prob(x, mean, logvar):
#     return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / logvar.exp()).sum(dim=-1)
# ```
#
# `torch.distributions.Normal(mean, (logvar / 2).exp()).log_prob(x).sum(-1)` is the same
# function; note that `Normal` takes the standard deviation, not the variance.
# ````

# %% [markdown]
# **Step b: the three terms of an importance weight.** For samples $z_i \sim q(z \mid x)$,
# the weight is $p(x \mid z_i)\, p(z_i) / q(z_i \mid x)$. Write
# `importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar)` returning the three
# log-densities `(log_p_x_given_z, log_p_z, log_q_z)`, each of shape $(k, N)$, with your
# `gaussian_log_prob`. Shapes: `x` $(N, 5)$, `z` $(k, N, 2)$, `W` $(5, 2)$, `b` and
# `noise_logvar` $(5,)$, `q_mean` and `q_logvar` $(N, 2)$.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# The samples are row vectors, so $W z$ for all of them at once is `z @ W.T`, of shape
# $(k, N, 5)$. The prior $\mathcal{N}(0, I)$ is a Gaussian with mean 0 and log-variance 0.
# ````

# %%
def importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar):
    # TODO: log p(x | z), log p(z) and log q(z | x), each (k, N)
    zeros = torch.zeros(z.shape[:-1])
    return zeros, zeros, zeros


# %%
# check: run this cell, do not edit it
exercises.check_importance_terms(importance_terms)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def importance_terms(x, z, W, b, noise_logvar, q_mean, q_logvar):
#     log_p_x_given_z = gaussian_log_prob(x, z @ W.T + b, noise_logvar)
#     log_p_z = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
#     log_q_z = gaussian_log_prob(z, q_mean, q_logvar)
#     return log_p_x_given_z, log_p_z, log_q_z
# ```
#
# `x` has shape $(N, 5)$ and the decoder's mean $(k, N, 5)$: broadcasting compares every
# sample's mean with its own image.
# ````

# %% [markdown]
# **The result.** The checker draws $k$ samples from the proposal for 8 points $x$ of a
# random linear-Gaussian model, passes your three terms to your
# `importance_log_likelihood` of exercise 1.3 and reports the largest distance to the
# exact $\log p(x)$, for $k = 1$ (a one-sample estimate of the ELBO, on average below the
# truth by the KL divergence from $q$ to the posterior), $k = 10$ and $k = 1000$. The target: within
# 0.1 nats at $k = 1000$.

# %%
# check: run this cell, do not edit it
exercises.check_linear_gaussian_log_likelihood(gaussian_log_prob, importance_terms, importance_log_likelihood)


# %% [markdown]
# ## Generative adversarial networks
#
# The discriminator returns *logits*: $D(x) = \operatorname{sigmoid}(\ell(x))$ is its
# probability that $x$ is real. Losses are means over the batch, in nats.

# %% [markdown]
# ### Exercise 2.1: spherical interpolation
#
# A latent $z \sim \mathcal{N}(0, I_{100})$ almost always has a norm close to
# $\sqrt{100} = 10$, so the midpoint of a straight line between two latents (norm about
# $10 / \sqrt{2}$) is an unusual input for the generator. Spherical interpolation keeps to
# the sphere: with unit vectors $u_0 = z_0 / \|z_0\|$, $u_1 = z_1 / \|z_1\|$ and the angle
# $\Omega = \arccos(u_0 \cdot u_1)$ between them,
#
# $$
# \operatorname{slerp}(z_0, z_1; t) =
# \frac{\sin((1 - t)\Omega)\, u_0 + \sin(t \Omega)\, u_1}{\sin \Omega}
# \,\big((1 - t)\|z_0\| + t \|z_1\|\big):
# $$
#
# the direction turns at constant speed along the great circle and the norm changes
# linearly. Write `slerp(z0, z1, t)` for two vectors of shape $(D,)$ and a float
# $t \in [0, 1]$, returning a vector of shape $(D,)$. (The two vectors will not be
# parallel.)
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Norms first (`z0.norm()`), then the unit vectors; the angle is `torch.arccos` of their dot
# product, clamped to $[-1, 1]$ because rounding can push it just outside.
# ````

# %%
def slerp(z0, z1, t):
    # TODO: rotate the direction, interpolate the norm
    return torch.zeros_like(z0)


# %%
# check: run this cell, do not edit it
exercises.check_slerp(slerp)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def slerp(z0, z1, t):
#     n0, n1 = z0.norm(), z1.norm()
#     u0, u1 = z0 / n0, z1 / n1
#     omega = torch.arccos((u0 * u1).sum().clamp(-1, 1))
#     direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
#     return direction * ((1 - t) * n0 + t * n1)
# ```
#
# The clamp protects `arccos` from a dot product that rounding pushes just above 1. The
# library's `gan.slerp` also handles (nearly) parallel vectors, where $\sin \Omega = 0$,
# by falling back to linear interpolation.
# ````

# %% [markdown]
# ### Exercise 2.2: the discriminator's loss
#
# The discriminator is a classifier of real (label 1) against generated (label 0) images.
# Its loss is the binary cross-entropy on both batches,
#
# $$
# L_D = -\frac{1}{N} \sum_{n} \log D(x_n) \;-\; \frac{1}{N} \sum_{n} \log\big(1 - D(G(z_n))\big),
# $$
#
# which equals $\log 4$ when $D = \tfrac{1}{2}$ everywhere. Write
# `discriminator_loss(real_logits, fake_logits)`: two $(N,)$ tensors of logits in, a single
# number (a tensor of shape $()$) out. Hint: `F.binary_cross_entropy_with_logits` takes
# logits and targets and computes the mean, stably.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Two calls of `F.binary_cross_entropy_with_logits`: the real logits with
# `torch.ones_like(real_logits)` as targets, the fake ones with `torch.zeros_like(fake_logits)`.
# The loss is their sum.
# ````

# %%
def discriminator_loss(real_logits, fake_logits):
    # TODO: real images have target 1, generated ones target 0
    return torch.tensor(0.0)


# %%
# check: run this cell, do not edit it
exercises.check_discriminator_loss(discriminator_loss)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def discriminator_loss(real_logits, fake_logits):
#     real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
#     fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
#     return real + fake
# ```
#
# The `_with_logits` loss applies the sigmoid itself (through $\log \operatorname{sigmoid}$,
# which does not overflow), so it must be given logits, not probabilities.
# ````

# %% [markdown]
# ### Exercise 2.3: the non-saturating generator loss
#
# The minimax game has the generator minimise $\log(1 - D(G(z)))$, whose gradient
# vanishes exactly when the generator is bad and $D(G(z)) \approx 0$. The non-saturating
# loss has the same fixed point and strong gradients there:
#
# $$
# L_G = -\frac{1}{N} \sum_n \log D(G(z_n)).
# $$
#
# Write `non_saturating_generator_loss(fake_logits)`: an $(N,)$ tensor of the
# discriminator's logits on generated images in, a single number out ($\log 2$ at
# $D = \tfrac{1}{2}$).
#
# ````{admonition} Hint
# :class: dropdown tip
#
# $\log D = \log \operatorname{sigmoid}(\ell)$, which `F.logsigmoid` computes without
# overflow; or see it as a cross-entropy with target 1.
# ````

# %%
def non_saturating_generator_loss(fake_logits):
    # TODO: -log D(G(z)), averaged over the batch
    return torch.tensor(0.0)


# %%
# check: run this cell, do not edit it
exercises.check_non_saturating_generator_loss(non_saturating_generator_loss)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def non_saturating_generator_loss(fake_logits):
#     return -F.logsigmoid(fake_logits).mean()
# ```
#
# Equivalently `F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))`:
# the generator wants its images labelled real.
# ````

# %% [markdown]
# ### Exercise 2.4 (multi-step): what the best discriminator measures
#
# The GAN objective is a game, but for a fixed generator the discriminator's half of it
# has a closed-form winner, and plugging that winner back in turns the game's value into
# a divergence between the data and the model. You will compute both on a grid of points
# for one-dimensional densities, where every integral is a sum.
#
# **Step a: the optimal discriminator.** For a fixed generator whose samples have density
# $p_{\text{model}}$, the discriminator maximises
# $\int p_{\text{data}}(x) \log D(x) + p_{\text{model}}(x) \log(1 - D(x))\, dx$. At each
# $x$ separately, $a \log D + b \log(1 - D)$ is largest at $D = a / (a + b)$, so
#
# $$
# D^*(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_{\text{model}}(x)}.
# $$
#
# Write `optimal_discriminator(p_data, p_model)`: the two densities at $N$ points, shape
# $(N,)$, in; $D^*$ at those points out.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# $D(x)$ is the probability that $x$ is *real*: where only the data put mass it is 1, where
# only the model does it is 0, and where the two densities are equal it is one half.
# ````

# %%
def optimal_discriminator(p_data, p_model):
    # TODO: the probability that x is real, for the best discriminator
    return torch.zeros_like(p_data)


# %%
# check: run this cell, do not edit it
exercises.check_optimal_discriminator(optimal_discriminator)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def optimal_discriminator(p_data, p_model):
#     return p_data / (p_data + p_model)
# ```
#
# Equivalently `torch.sigmoid(p_data.log() - p_model.log())`: the best discriminator's
# logit is the log density ratio, which is why a trained discriminator's logits estimate it.
# ````

# %% [markdown]
# **Step b: the value of the game.** Write `discriminator_value(p_data, p_model, d, dx)`,
# the value
#
# $$
# \begin{aligned}
# V(D) = \int & p_{\text{data}}(x) \log D(x) \\
# & + p_{\text{model}}(x) \log\big(1 - D(x)\big)\, dx
# \end{aligned}
# $$
#
# on a grid with step `dx`: the densities and $D$ at $N$ grid points, shape $(N,)$, and
# `dx` a float in, a single number out, in nats. (The discriminator's loss of exercise 2.2
# is $-V$, estimated with samples instead of a grid.)
#
# ````{admonition} Hint
# :class: dropdown tip
#
# An integral on a grid is the sum of the integrand at the grid points times the step.
# ````

# %%
def discriminator_value(p_data, p_model, d, dx):
    # TODO: the integral above as a sum over the grid
    return torch.tensor(0.0)


# %%
# check: run this cell, do not edit it
exercises.check_discriminator_value(discriminator_value)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def discriminator_value(p_data, p_model, d, dx):
#     return (p_data * torch.log(d) + p_model * torch.log(1 - d)).sum() * dx
# ```
# ````

# %% [markdown]
# **The result.** Substituting $D^*$ into $V$ gives
# $V(D^*) = 2\,\mathrm{JS}(p_{\text{data}}, p_{\text{model}}) - \log 4$, where the
# Jensen-Shannon divergence
# $\mathrm{JS}(p, q) = \tfrac{1}{2}\mathrm{KL}(p \,\|\, m) + \tfrac{1}{2}\mathrm{KL}(q \,\|\, m)$,
# with $m = \tfrac{1}{2}(p + q)$, is 0 for identical densities and at most $\log 2$. The
# checker evaluates your two functions for $p_{\text{data}} = \mathcal{N}(0, 1)$ and
# $p_{\text{model}} = \mathcal{N}(\mu, 1)$ on a fine grid, turns the value into
# $\mathrm{JS} = (V(D^*) + \log 4) / 2$ and compares it with a direct computation of the
# definition.
#
# Watch the numbers approach $\log 2$ as the two densities separate: once they no longer
# overlap, moving the model a little changes nothing, and a generator trained against the
# best discriminator gets no gradient. That is the saturation the non-saturating loss of
# exercise 2.3 works around.

# %%
# check: run this cell, do not edit it
exercises.check_jensen_shannon(optimal_discriminator, discriminator_value)


# %% [markdown]
# ### Exercise 2.5 (multi-step): a slerp for every pair of endpoints
#
# The slerp of exercise 2.1 divides by $\sin \Omega$, so it fails exactly where a sweep
# through latent space is most likely to go: two codes that point the same way (a digit
# and a brighter copy of it, $z_1 = c\, z_0$), codes that point in opposite directions, and
# the zero vector (the mean of the prior, the generator's "average" input). Here you write
# one that handles them all.
#
# **Step a: the angle, accurately.** `torch.arccos` of a dot product is the obvious angle,
# and a poor one: near $0$ and $\pi$ the cosine is flat, so tiny rounding errors in the dot
# product become large errors in the angle. (In float32, the cosine of $10^{-4}$ rad is
# exactly 1.) The sine is not flat there. With $c = u_0 \cdot u_1$, the part of $u_1$
# orthogonal to $u_0$, $u_1 - c\, u_0$, has length $\sin \Omega$, and
#
# $$
# \Omega = \operatorname{atan2}\big(\|u_1 - c\, u_0\|,\ c\big)
# $$
#
# is accurate at every angle. Write `angle_between(u0, u1)` for unit vectors of shape
# $(N, D)$, returning the $(N,)$ angles in radians. The checker's pairs include some
# $10^{-4}$ rad from parallel and from antiparallel.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# `torch.atan2(y, x)` takes the sine-like and cosine-like parts separately and returns an
# angle in $[0, \pi]$ when `y` is non-negative. Keep the dot product's last axis
# (`keepdim=True`) to subtract $c\, u_0$ by broadcasting.
# ````

# %%
def angle_between(u0, u1):
    # TODO: atan2 of the sine-like and cosine-like parts, one angle per pair
    return torch.zeros(u0.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_angle_between(angle_between)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def angle_between(u0, u1):
#     cos = (u0 * u1).sum(dim=-1, keepdim=True)
#     sin = (u1 - cos * u0).norm(dim=-1)
#     return torch.atan2(sin, cos.squeeze(-1))
# ```
#
# Another accurate form is $2 \operatorname{atan2}(\|u_0 - u_1\|, \|u_0 + u_1\|)$: the
# chord between the two unit vectors and its complement.
# ````

# %% [markdown]
# **Step b: the slerp itself.** Write `robust_slerp(z0, z1, t)` for two codes of shape
# $(D,)$ and a float $t \in [0, 1]$, with the meaning of exercise 2.1 (the direction turns
# along the great circle at constant angular speed, the norm goes linearly from
# $\|z_0\|$ to $\|z_1\|$) and these special cases:
#
# - **a zero endpoint** has no direction: the path is then the straight line
#   $(1 - t) z_0 + t z_1$, which keeps the direction of the other endpoint;
# - **parallel codes** ($\Omega = 0$, or nearly): the direction stays put and only the norm
#   changes;
# - **antiparallel codes** ($\Omega = \pi$): every great circle through $u_0$ reaches
#   $-u_0$, so choose one: turn through any fixed unit vector orthogonal to $u_0$.
#
# The checker runs seven kinds of endpoints at $t = 0, \tfrac14, \tfrac12, \tfrac34, 1$ and
# checks the path's properties rather than particular numbers, so any great circle will do
# in the antiparallel case.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Avoid the division by $\sin \Omega$ altogether: with $w$ the unit vector along
# $u_1 - (u_0 \cdot u_1)\, u_0$, the direction at $t$ is $\cos(t\Omega)\, u_0 + \sin(t\Omega)\, w$.
# Only $w$ needs care: when $u_1 - (u_0 \cdot u_1)\, u_0$ is (nearly) zero, any unit vector
# orthogonal to $u_0$ serves, for instance a coordinate axis with its $u_0$ component removed.
# ````

# %%
def robust_slerp(z0, z1, t):
    # TODO: slerp, with the zero, parallel and antiparallel cases
    return torch.zeros_like(z0)


# %%
# check: run this cell, do not edit it
exercises.check_robust_slerp(robust_slerp)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def robust_slerp(z0, z1, t):
#     n0, n1 = z0.norm(), z1.norm()
#     norm = (1 - t) * n0 + t * n1
#     if n0 == 0 or n1 == 0:
#         return (1 - t) * z0 + t * z1
#     u0, u1 = z0 / n0, z1 / n1
#     omega = angle_between(u0, u1)
#     if omega < 1e-6:
#         return norm * u0
#     w = u1 - (u0 @ u1) * u0
#     if w.norm() < 1e-6:  # antiparallel: any axis orthogonal to u0
#         axis = torch.zeros_like(u0)
#         axis[u0.abs().argmin()] = 1.0
#         w = axis - (u0 @ axis) * u0
#     w = w / w.norm()
#     return norm * (torch.cos(t * omega) * u0 + torch.sin(t * omega) * w)
# ```
#
# The axis least aligned with $u_0$ keeps $w$ far from zero. The library's `gan.slerp` is
# the same construction written for batches, with `torch.where` in place of the `if`s.
# ````


# %% [markdown]
# ## Normalizing flows
#
# A RealNVP flow is a stack of affine coupling layers. A binary mask $b \in \{0, 1\}^D$
# splits the dimensions: where $b = 1$ the input passes unchanged, and it alone decides,
# through a network, a log-scale $s$ and a shift $t$ for the other dimensions. Here $s$ and
# $t$ are given (shape $(N, D)$, with values on every dimension): your functions must use
# them only where $b = 0$.

# %% [markdown]
# ### Exercise 3.1: an affine coupling layer
#
# The layer maps $x$ to
#
# $$
# y = b \odot x + (1 - b) \odot \big(x \odot e^{s} + t\big).
# $$
#
# Its Jacobian is triangular (after reordering the dimensions) with diagonal $1$ where
# $b = 1$ and $e^{s_d}$ where $b = 0$, so $\log |\det \partial y / \partial x| = \sum_d (1 - b_d)\, s_d$.
# Write `coupling_forward(x, mask, s, t)` returning the pair `(y, log_det)`: `x`, `s`, `t`
# have shape $(N, D)$ and `mask` shape $(D,)$; `y` has shape $(N, D)$ and `log_det`
# shape $(N,)$, one log-determinant per example, in nats.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Let the mask do the selecting by multiplication: `mask * x` is the kept part, and
# `(1 - mask) * (...)` the transformed one. The log-determinant masks `s` the same way before
# summing over `dim=-1`.
# ````

# %%
def coupling_forward(x, mask, s, t):
    # TODO: transform the dimensions where mask == 0, and the log-determinant
    return torch.zeros_like(x), torch.zeros(x.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_coupling_forward(coupling_forward)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def coupling_forward(x, mask, s, t):
#     y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
#     log_det = ((1 - mask) * s).sum(dim=-1)
#     return y, log_det
# ```
#
# Only the transformed dimensions contribute to the log-determinant: the kept ones have a
# derivative of 1, whose log is 0.
# ````

# %% [markdown]
# ### Exercise 3.2: its inverse
#
# Sampling runs the flow backwards. The kept part of $y$ equals that of $x$, so the network
# can recompute the same $s$ and $t$ from it, and the layer inverts in closed form. Write
# `coupling_inverse(y, mask, s, t)` returning $x$ (shape $(N, D)$) such that
# `coupling_forward(x, mask, s, t)[0]` is `y`.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Solve $y = x\, e^{s} + t$ for $x$ on the transformed dimensions; the kept ones are copied.
# ````

# %%
def coupling_inverse(y, mask, s, t):
    # TODO: undo the shift and the scale where mask == 0
    return torch.zeros_like(y)


# %%
# check: run this cell, do not edit it
exercises.check_coupling_inverse(coupling_inverse)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def coupling_inverse(y, mask, s, t):
#     return mask * y + (1 - mask) * (y - t) * torch.exp(-s)
# ```
#
# The forward map scales first and shifts second, so the inverse undoes the shift first:
# $x = (y - t) \odot e^{-s}$ on the transformed dimensions.
# ````

# %% [markdown]
# ### Exercise 3.3: bits per dimension
#
# A flow gives a density on continuous data, but pixels are integers $k \in \{0, \dots, 255\}$.
# Dequantization adds uniform noise $u \in [0, 1)$ and the flow models $y = (k + u) / 256$ in
# $[0, 1]^{784}$. Dividing by 256 in each of the 784 dimensions scales densities:
# $\log p(k + u) = \log p(y) - 784 \ln 256$. The score is the number of bits per pixel,
#
# $$
# \text{bits/dim} = \frac{-\log p(k + u)}{784 \ln 2} = \frac{784 \ln 256 - \log p(y)}{784 \ln 2},
# $$
#
# so that a uniform density on $[0, 1]^{784}$ ($\log p(y) = 0$) scores exactly 8. Write
# `bits_per_dim(log_prob_unit)`: the $(N,)$ values of $\log p(y)$ in nats in, the $(N,)$
# bits per dimension out.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Compute the numerator in nats, $784 \ln 256 - \log p(y)$; dividing by $784 \ln 2$ turns
# nats per image into bits per pixel. `math.log` is the natural logarithm.
# ````

# %%
def bits_per_dim(log_prob_unit):
    # TODO: rescale to the 256 levels, then convert nats per image to bits per pixel
    return torch.zeros_like(log_prob_unit)


# %%
# check: run this cell, do not edit it
exercises.check_bits_per_dim(bits_per_dim)

# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def bits_per_dim(log_prob_unit):
#     dim = 784
#     return (dim * math.log(256) - log_prob_unit) / (dim * math.log(2))
# ```
#
# Converting nats to bits divides by $\ln 2$; dividing by 784 makes it per pixel.
# Log-likelihoods of images are in the thousands of nats: never exponentiate them.
# ````


# %% [markdown]
# ### Exercise 3.4 (multi-step): a coupling layer with its own network
#
# In exercises 3.1 and 3.2 the scale $s$ and shift $t$ were given. In a real layer a
# network computes them from the kept part of the input, and that is the whole trick: the
# Jacobian stays triangular, however complicated the network, because $s$ and $t$ do not
# depend on the dimensions they transform. The last check verifies this the hard way,
# with autograd's full Jacobian.
#
# **Step a: the forward pass.** Write `coupling_layer(x, mask, net)` returning
# `(y, log_det)`: `x` has shape $(N, D)$, `mask` shape $(D,)$ (1 on the kept dimensions),
# and `net` is a function that takes an $(N, D)$ tensor and returns `(s, t)`, each
# $(N, D)$. Give it the kept part only, `x * mask`, then
#
# $$
# \begin{aligned}
# y &= b \odot x + (1 - b) \odot \big(x \odot e^{s} + t\big), \\
# \log\left|\det \frac{\partial y}{\partial x}\right| &= \sum_d (1 - b_d)\, s_d .
# \end{aligned}
# $$
#
# ````{admonition} Hint
# :class: dropdown tip
#
# This is exercise 3.1 with one line in front: `s, t = net(x * mask)`. Multiplying by the
# mask zeroes the transformed dimensions, so nothing the network computes can depend on them.
# ````

# %%
def coupling_layer(x, mask, net):
    # TODO: s, t from the kept part; then y and the log-determinant
    return torch.zeros_like(x), torch.zeros(x.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_coupling_layer(coupling_layer)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def coupling_layer(x, mask, net):
#     s, t = net(x * mask)
#     y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
#     return y, ((1 - mask) * s).sum(dim=-1)
# ```
#
# The library's `flows.AffineCoupling` does the same with index lists instead of a
# multiplication by the mask: its network reads only the kept coordinates and writes a
# scale and a shift only for the others, which halves its size on a checkerboard.
# ````

# %% [markdown]
# **Step b: the inverse.** Write `coupling_layer_inverse(y, mask, net)` returning $x$.
# The kept part of $y$ equals that of $x$, so the network, given it, returns the same
# $s$ and $t$ as in the forward pass.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# `y * mask` is `x * mask`. On the other dimensions undo the shift, then the scale.
# ````

# %%
def coupling_layer_inverse(y, mask, net):
    # TODO: the same s, t from the kept part; undo the shift and the scale
    return torch.zeros_like(y)


# %%
# check: run this cell, do not edit it
exercises.check_coupling_layer_inverse(coupling_layer_inverse)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def coupling_layer_inverse(y, mask, net):
#     s, t = net(y * mask)
#     return mask * y + (1 - mask) * (y - t) * torch.exp(-s)
# ```
# ````

# %% [markdown]
# **The result.** The checker stacks four of your layers with alternating masks on six
# dimensions (in float64), computes the full $6 \times 6$ Jacobian of the stack with
# autograd at four points, and compares `torch.linalg.slogdet` of it with the sum of your
# four log-determinants. It also runs your inverses in reverse order and measures how
# far they land from where the stack started. Both must agree to within $10^{-8}$.
#
# If you gave the network all of `x` in step a, the checker stopped you there: with $s$
# depending on the dimensions it scales, the Jacobian is no longer triangular, and
# $\sum s$ is no longer its log-determinant.

# %%
# check: run this cell, do not edit it
exercises.check_coupling_log_det(coupling_layer, coupling_layer_inverse)


# %% [markdown]
# ### Exercise 3.5 (multi-step): bits per dimension through the logit
#
# The flows of the course do not model pixels in $[0, 1]$ directly: a first, fixed layer
# maps them onto the whole real line with a logit, where the coupling layers and the
# Gaussian base density live. That layer changes densities too, and its log-determinant
# belongs in the bits per dimension.
#
# **Step a: the logit transform.** $\operatorname{logit}(0) = -\infty$, so the pixels are
# first squeezed into $[\alpha, 1 - \alpha]$:
#
# $$
# \begin{aligned}
# p &= \alpha + (1 - 2\alpha)\, x, \\
# y &= \operatorname{logit}(p) = \log p - \log(1 - p).
# \end{aligned}
# $$
#
# Each dimension is mapped on its own, so the Jacobian is diagonal, and with
# $\frac{d}{dp} \operatorname{logit}(p) = \frac{1}{p(1 - p)}$,
#
# $$
# \log\left|\det \frac{\partial y}{\partial x}\right|
# = \sum_d \Big( \log(1 - 2\alpha) - \log p_d - \log(1 - p_d) \Big).
# $$
#
# Write `logit_transform(x, alpha)`: $x$ of shape $(N, D)$ in $[0, 1]$ (exact 0 and 1
# included, as dequantized pixels can be) and a float $\alpha$ in; `(y, log_det)` of shapes
# $(N, D)$ and $(N,)$ out.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# The chain rule gives two factors per dimension, $1 - 2\alpha$ from the squeeze and
# $1 / (p (1 - p))$ from the logit; their logs add. `torch.log1p(-p)` computes
# $\log(1 - p)$ accurately when $p$ is small.
# ````

# %%
def logit_transform(x, alpha):
    # TODO: squeeze, logit, and the log-determinant of both
    return torch.zeros_like(x), torch.zeros(x.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_logit_transform(logit_transform)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def logit_transform(x, alpha):
#     p = alpha + (1 - 2 * alpha) * x
#     y = torch.log(p) - torch.log1p(-p)
#     log_det = (math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)).sum(dim=-1)
#     return y, log_det
# ```
# ````

# %% [markdown]
# **Step b: bits per dimension.** By the change of variables, the density of the pixels
# is the base density of $y$ times the Jacobian factor,
# $\log p(x) = \log p_{\text{base}}(y) + \log|\det \partial y / \partial x|$, and
# exercise 3.3 turns $\log p(x)$ into bits per dimension. Write
# `logit_bits_per_dim(x, alpha, base_log_prob)`: dequantized images $x$ of shape
# $(N, 784)$, $\alpha$, and a function that maps $y$ of shape $(N, 784)$ to
# $\log p_{\text{base}}(y)$ of shape $(N,)$; return the $(N,)$ bits per dimension, using
# your `logit_transform` and your `bits_per_dim`.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# The log-determinant is *added*: a map that stretches space (a large derivative) spreads
# the base density thin, and a point's density before the map is the density after it
# times the stretch.
# ````

# %%
def logit_bits_per_dim(x, alpha, base_log_prob):
    # TODO: through the logit, into the base density, then bits per dimension
    return torch.zeros(x.shape[0])


# %%
# check: run this cell, do not edit it
exercises.check_logit_bits_per_dim(logit_bits_per_dim)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def logit_bits_per_dim(x, alpha, base_log_prob):
#     y, log_det = logit_transform(x, alpha)
#     return bits_per_dim(base_log_prob(y) + log_det)
# ```
# ````

# %% [markdown]
# **The result: a number to predict.** The checker scores 1,000 dequantized validation
# images with your function and $\alpha = 0.05$, under two base densities. The first is
# the *logistic* density, $\log p(y) = -\operatorname{softplus}(y) - \operatorname{softplus}(-y)$
# per dimension, whose cumulative distribution function is the sigmoid, the logit's
# inverse. Before you run the cell, work out what it must give; then open the note below.
# The second base is the standard normal of the course's flows, before any coupling layer
# has learned anything: compare its score with the uniform density's 8 bits. Closing that
# gap, and going well below it, is the coupling layers' work.
#
# ````{admonition} What the logistic base must give
# :class: dropdown tip
#
# Pushing a logistic variable through the sigmoid gives a uniform variable on $[0, 1]$, so
# $p$ is uniform, and $x = (p - \alpha)/(1 - 2\alpha)$ has the constant density $1 - 2\alpha$:
# every image scores $8 - \log_2(1 - 2\alpha)$ bits per dimension, whatever it shows. The
# $-\log_2(1 - 2\alpha)$ is the squeeze's cost: it gives a share $2\alpha$ of the
# probability to values below 0 and above 1, which no pixel takes.
# ````

# %%
# check: run this cell, do not edit it
exercises.check_logit_flow_result(logit_transform, logit_bits_per_dim)


# %% [markdown]
# ## Flow matching
#
# Three short exercises on the chapter beyond the report: the regression target that
# trains the model, the simplest sampler, and the divergence that gives its likelihood.
#
# ### Exercise 4.1: the training target
#
# Flow matching regresses a network on the velocity of a straight path from a noise point
# $x_0$ to a data point $x_1$:
#
# $$
# x_t = (1 - t)\, x_0 + t\, x_1, \qquad \frac{\mathrm{d}x_t}{\mathrm{d}t} = x_1 - x_0 .
# $$
#
# Write `flow_matching_target(x0, x1, t)`: two $(N, D)$ tensors and the $(N,)$ times in,
# the pair `(x_t, velocity)` of $(N, D)$ tensors out. Gradients must reach all three inputs.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# `t` has one value per example: `t[:, None]` (or `t.unsqueeze(-1)`) makes it a column that
# broadcasts over the $D$ coordinates.
# ````

# %%
def flow_matching_target(x0, x1, t):
    # TODO: the point on the straight path at time t, and its velocity
    return torch.zeros_like(x0), torch.zeros_like(x0)


# %%
# check: run this cell, do not edit it
exercises.check_flow_matching_target(flow_matching_target)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def flow_matching_target(x0, x1, t):
#     t = t[:, None]
#     return (1 - t) * x0 + t * x1, x1 - x0
# ```
#
# The velocity does not depend on $t$: each conditional path is a straight line travelled
# at constant speed. The network has to learn the *average* of these velocities over all
# pairs whose path passes through $x_t$, which is what the loss's minimiser is.
# ````

# %% [markdown]
# ### Exercise 4.2: an Euler sampler
#
# A sample is the solution at $t = 1$ of $\mathrm{d}x/\mathrm{d}t = v(x, t)$ started from
# noise at $t = 0$. Euler's method takes `steps` equal steps of size $h = 1/\text{steps}$:
#
# $$
# x_{k+1} = x_k + h\, v(x_k, k h), \qquad k = 0, \dots, \text{steps} - 1 .
# $$
#
# Write `euler_sample(velocity, x0, steps)`: `velocity(x, t)` takes an $(N, D)$ tensor and
# the $(N,)$ times and returns $(N, D)$; `x0` is $(N, D)$; return $x$ at $t = 1$, $(N, D)$.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# A plain `for k in range(steps)` loop. `torch.full((len(x),), k * h, dtype=x.dtype)` makes
# the times.
# ````

# %%
def euler_sample(velocity, x0, steps):
    # TODO: take `steps` Euler steps from t = 0 to t = 1
    return torch.zeros_like(x0)


# %%
# check: run this cell, do not edit it
exercises.check_euler_sample(euler_sample)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def euler_sample(velocity, x0, steps):
#     x, h = x0, 1.0 / steps
#     for k in range(steps):
#         x = x + h * velocity(x, torch.full((len(x),), k * h, dtype=x.dtype))
#     return x
# ```
#
# Euler's error shrinks in proportion to $h$; the midpoint method evaluates the velocity a
# second time halfway along the step and its error shrinks as $h^2$ (the chapter's section
# FM.5 compares them on MNIST).
# ````

# %% [markdown]
# ### Exercise 4.3: Hutchinson's divergence
#
# The likelihood of a continuous flow integrates the divergence $\operatorname{tr}\,
# \partial v / \partial x$ along the path. For a random vector $\varepsilon$ of $\pm 1$
# entries, $\varepsilon^\top (\partial v / \partial x)\, \varepsilon$ is an unbiased
# estimate of it, and costs one vector-Jacobian product however large $D$ is.
#
# Write `hutchinson_divergence(velocity, x, t, eps)`: the velocity as above, `x` and `eps`
# of shape $(N, D)$, `t` of shape $(N,)$; return the $(N,)$ estimates.
#
# ````{admonition} Hint
# :class: dropdown tip
#
# Make a copy of `x` that requires gradients, compute `v = velocity(x, t)`, and ask
# `torch.autograd.grad(v, x, grad_outputs=eps)`: it returns $\varepsilon^\top \partial v /
# \partial x$ for every example at once. Then one more product with `eps` and a sum.
# ````

# %%
def hutchinson_divergence(velocity, x, t, eps):
    # TODO: eps^T (dv/dx) eps for each example
    return torch.zeros(len(x))


# %%
# check: run this cell, do not edit it
exercises.check_hutchinson_divergence(hutchinson_divergence)


# %% [markdown]
# ````{admonition} Solution
# :class: dropdown
#
# ```python
# def hutchinson_divergence(velocity, x, t, eps):
#     x = x.detach().requires_grad_(True)
#     (vjp,) = torch.autograd.grad(velocity(x, t), x, grad_outputs=eps)
#     return (vjp * eps).sum(-1)
# ```
#
# Every example's estimate comes out of one backward pass because example $n$'s velocity
# depends only on example $n$'s input. The estimate is noisy, but the noise averages out
# over the steps of an ODE solve and over a data set (section FM.6 measures it).
# ````


# %% [markdown]
# ## What the reference reaches
#
# Once your results pass, compare their numbers with what the library's own functions
# reach in your place. The cell below runs the five result checks with the reference
# implementations; the tiny VAE trains again, so it takes about as long as exercise 1.4.
# The stored output is from the full mode: the ELBO after five epochs, the importance
# sampler's distance to the exact value for one, ten and a thousand samples, the
# Jensen-Shannon divergences, the agreement with autograd, and the two bits/dim values.

# %%
print(exercises.reference_results(quick=quick))
