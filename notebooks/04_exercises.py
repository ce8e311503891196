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
# Nine short exercises, three per model family, each a few lines of PyTorch taken from the
# library behind the chapters. For each one:
#
# 1. read the statement;
# 2. replace the body of the function in the code cell below it (it is a stub that runs
#    but returns the wrong thing, marked `# TODO`);
# 3. run the next cell: a **checker** compares your function with the library's on five
#    random inputs and prints one line, either ✓ or a diagnosis of what is off (a wrong
#    shape, the wrong sign, a constant factor, NaN, an exception, a typical mistake of that
#    exercise...);
# 4. open the folded **Solution** when you are done, or stuck.
#
# The stored outputs below are what the stubs get, so every checker starts with
# "not yet correct". The checkers draw their inputs from their own fixed seed, so their
# verdicts do not depend on what ran before. Shapes are written $(N, D)$ for $N$ examples of
# dimension $D$; log-densities are in nats (natural logarithms) unless a name says bits.

# %% tags=["parameters"]
seed = 0

# %%
# math and F (torch's functions, such as losses) are there for your solutions
import math  # noqa: F401

import torch
import torch.nn.functional as F  # noqa: F401

from gengen_lib import exercises, runtime

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

# %%
def kl_standard_normal(mu, logvar):
    # TODO: the closed form above, one value per example
    return torch.zeros(mu.shape[0])


# %%
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

# %%
def reparameterize(mu, logvar, eps):
    # TODO: shift and scale the noise
    return torch.zeros_like(mu)


# %%
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

# %%
def importance_log_likelihood(log_p_x_given_z, log_p_z, log_q_z):
    # TODO: the log of the average importance weight, per image
    return torch.zeros(log_p_z.shape[1])


# %%
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

# %%
def slerp(z0, z1, t):
    # TODO: rotate the direction, interpolate the norm
    return torch.zeros_like(z0)


# %%
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

# %%
def discriminator_loss(real_logits, fake_logits):
    # TODO: real images have target 1, generated ones target 0
    return torch.tensor(0.0)


# %%
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

# %%
def non_saturating_generator_loss(fake_logits):
    # TODO: -log D(G(z)), averaged over the batch
    return torch.tensor(0.0)


# %%
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

# %%
def coupling_forward(x, mask, s, t):
    # TODO: transform the dimensions where mask == 0, and the log-determinant
    return torch.zeros_like(x), torch.zeros(x.shape[0])


# %%
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

# %%
def coupling_inverse(y, mask, s, t):
    # TODO: undo the shift and the scale where mask == 0
    return torch.zeros_like(y)


# %%
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

# %%
def bits_per_dim(log_prob_unit):
    # TODO: rescale to the 256 levels, then convert nats per image to bits per pixel
    return torch.zeros_like(log_prob_unit)


# %%
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
