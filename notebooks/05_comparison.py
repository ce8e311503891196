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
# # Comparing the models
#
# The report's three models, and the flow-matching model of the chapter beyond it, trained
# on the same 50,000 digits, each answering a different question. This chapter puts them side by side using only numbers measured by the code of the previous
# chapters (the shipped models of `weights/`, not retrained), and
# says what each number can and cannot compare.

# %% tags=["parameters"]
# Parameters (papermill: -p quick True, or set GENGEN_QUICK=1)
quick = False
pretrained = True  # the shipped models of the three chapters; False uses (or trains) the runs in runs/
seed = 0
n_samples = 10_000

# %%
import functools
import math
import time

import matplotlib.pyplot as plt
import torch
from myst_nb import glue

from gengen_lib import figures, plots, pretrained as shipped, quality, runs, runtime, vae
from gengen_lib.families import FAMILIES, SHIPPED

runtime.check_flags(pretrained=pretrained)
runtime.check_positive_ints(n_samples=n_samples)
quick, device = runtime.notebook_setup(quick, seed)
if quick:
    n_samples = 1000

# %%
# The models compared: each family's record in the registry (gengen_lib.families) names the shipped
# models the book compares, and how it samples them; in quick mode, their quick twins are trained.
compared = {family.label: family for family in FAMILIES.values() if family.compared}
classifier_settings = quality.ClassifierSettings.for_mode(quick)
classifier = shipped.load_or_train("classifier", classifier_settings, pretrained=pretrained, quiet=True)[0]
meter = quality.SampleQualityMeter(classifier)


def load(family, settings):
    """The model trained with ``settings`` (shipped, or trained through runs/) and its training history."""
    load_or_train = functools.partial(shipped.load_or_train, pretrained=pretrained)  # the classifier, too
    extras = family.training_extras(settings, quick, device, None, load_or_train)  # the GAN's scores per epoch
    return load_or_train(family.name, settings, quiet=True, device=device, **extras)


models, chosen, settings = {}, {}, {}
for label, family in compared.items():
    candidates = {name: SHIPPED[name][1].in_mode(quick) for name in family.compared}  # quick: their quick twins
    loaded = {name: load(family, candidate) for name, candidate in candidates.items()}
    # With several, the setting of the chapter whose training ended with the lowest MNIST-FID.
    chosen[label] = min(loaded, key=lambda name: loaded[name][1].epochs[-1].get("fid", 0.0))
    model, history = loaded[chosen[label]]
    models[label], settings[label] = (model.cpu(), history), candidates[chosen[label]]
print("loaded:", ", ".join(f"{label} {chosen[label]} ({len(h.epochs)} epochs)" for label, (m, h) in models.items()))
glue("best_gan", chosen["GAN"], display=False)


# %% [markdown]
# ## Samples side by side
#
# The same number of samples from each model, with fixed seeds. For the VAE we show the
# decoder's pixel means $f_\theta(z)$ (what it "draws"); its actual samples are binary coin flips
# around them. The GAN (the setting of its chapter with the lower MNIST-FID, here the one shipped
# as {glue:text}`best_gan`), the flow (learned scale, $T = 1$) and flow matching (its shipped
# solver) produce grey levels directly.

# %% tags=["hide-input"]
def draw(name, n, offset=0):
    generator = torch.Generator().manual_seed(seed + offset)
    return models[name][0].sample(n, generator=generator, **compared[name].sample_options)

fig = plots.show_grids({name: draw(name, 64) for name in models}, nrow=8, size=4.0, title="64 samples from each model",
                       finding="Fixed seeds; the VAE shows its decoder's means.")  # fmt: skip

# %% [markdown]
# ## Sample quality on one yardstick
#
# All four are scored with the MNIST classifier of the GAN chapter against the 10,000 real
# test digits (flow matching's 10,000 samples, twenty velocity evaluations each, were scored
# when its weights were packed and are read from the manifest): MNIST-FID (lower is better; real training images, the floor, score
# {glue:text}`real_fid:.2f` rather than 0, because 10,000 images are a finite sample of the
# digit distribution), the classifier score (between 1 and 10), and the class histogram.

# %%
# The draws of weights/manifest.json and of each chapter (10,000 in blocks of 1,000 from the seed): one
# measurement per model, the same number on every page.
scores = {label: quality.sample_quality(models[label][0], meter, n_samples, seed=seed, **family.sample_options)
          for label, family in compared.items() if not family.scored_when_packed}  # fmt: skip
scores["VAE (binary samples)"] = quality.sample_quality(models["VAE"][0], meter, n_samples, seed=seed, binary=True)
real = meter.summary(quality.intensities(quality.load_mnist("train").images[:n_samples]))
glue("real_fid", real["fid"], display=False)
# A model whose 10,000 samples take an ODE solve each (minutes on a CPU) is quoted with the scores
# measured on the same 10,000 test digits when it was packed (weights/manifest.json).
packed = {label: shipped.manifest().get(chosen[label], {}).get("metrics", {}) if pretrained and not quick else {}
          for label in compared}  # fmt: skip
for label, family in compared.items():
    if family.scored_when_packed and "fid" in packed[label]:
        scores[f"{label} (packed)"] = packed[label]

print(f"{'':<24}{'MNIST-FID':>10}{'score':>8}{'class entropy':>15}{'largest class':>15}")
for name, s in [("real training images", real)] + list(scores.items()):
    print(f"{name:<24}{s['fid']:10.2f}{s['classifier_score']:8.2f}{s['class_entropy']:15.3f}{s['largest_class_share']:15.1%}")

# %% tags=["hide-input"]
fig = figures.class_histograms({name: s["class_counts"] for name, s in scores.items() if name != "VAE (binary samples)"})
plt.show()

# %% [markdown]
# These are the same 10,000 draws (the same seed, the same shipped weights) that each model's
# chapter scores and that `weights/manifest.json` records, so a model has one MNIST-FID on
# every page. Another draw of 10,000 would move each value by the metric's sampling noise; the
# check below compares with the manifest, which was measured when the weights were packed:

# %%
for label in scores:  # in the registry's order (a set's order would change from run to run)
    if "fid" in packed.get(label, {}):
        print(f"{label:<8} here {scores[label]['fid']:.2f}, manifest ({chosen[label]}) {packed[label]['fid']:.2f}")

# %% [markdown]
# ## Likelihoods, where they exist
#
# * **VAE:** a lower bound (ELBO) and an importance-sampled estimate of $\log p(x)$, for
#   *binary* images (measured on the whole test set by `python -m gengen_lib evaluate vae` and
#   recorded in `weights/manifest.json`; the VAE chapter checks it against a live estimate).
# * **RealNVP:** the exact log-density of *dequantized 8-bit* images, reported in bits per
#   dimension.
# * **Flow matching:** the log-density of the same dequantized images, from an ODE solve with
#   an unbiased estimate of the divergence (its chapter, section FM.6), in the same unit.
# * **GAN:** none. Its density is implicit; there is nothing to evaluate at a test image.

# %%
if pretrained and shipped.shipped_name(settings["VAE"]):  # measured once: python -m gengen_lib evaluate vae
    vae_metrics = shipped.manifest()[shipped.shipped_name(settings["VAE"])]["metrics"]
else:
    vae_metrics = vae.test_set_metrics(models["VAE"][0], settings["VAE"], k=100 if quick else 5000, n=500 if quick else None)
nll_binary = -vae_metrics["ll"]
flow_best_valid = min(models["RealNVP"][1].curve("valid_bpd"))
print(f"VAE   : test NLL {nll_binary:.2f} nats per binary image (IS, k={vae_metrics['k']})"
      f" = {nll_binary / (784 * math.log(2)):.4f} bits/dim of binary data")
from gengen_lib import baselines, data
train_b, valid_b = data.binarize(data.load_mnist("train").images), data.binarize(data.load_mnist("valid").images)
marginal_bpd = baselines.nats_to_bits_per_dim(baselines.bernoulli_nll(valid_b, baselines.pixel_marginals(train_b)).mean().item())
print(f"         baselines on binary data: uniform 1.0000 bits/dim, per-pixel marginals {marginal_bpd:.4f} bits/dim")
print(f"RealNVP: {flow_best_valid:.3f} bits/dim on dequantized 8-bit validation images (uniform: 8.000)")
if "test_bpd" in packed["flow matching"]:
    fm_bpd = packed["flow matching"]["test_bpd"]
    print(f"flow matching: {fm_bpd['bpd']:.3f} ± {fm_bpd['bpd_sem']:.3f} bits/dim on the first {fm_bpd['n']:,} "
          "dequantized 8-bit test images (ODE likelihood, Hutchinson's trace)")
print("GAN    : no likelihood")

# %% [markdown]
# **What these numbers can compare.** The VAE's and the flow's bits per dimension above are
# *not* comparable, even though they share a unit: the VAE models a binarized data set (one
# bit of information per pixel at most, and the binarization itself throws away the grey
# levels) while the flow models all 256 grey levels. The fair comparisons are within a
# column: each model against its own baselines (uniform and per-pixel marginals for binary
# data; 8 bits/dim for 8-bit data), and different flows (learned vs fixed scale) against
# each other. Likelihood and sample quality also measure different things: a model can
# assign high likelihood and still produce poor samples, and the GAN, which has no
# likelihood at all, can produce the most convincing digits.
#
# **What MNIST-FID can compare.** All four models' samples, against the same real test set
# with the same classifier. It rewards samples whose feature statistics (mean and
# covariance) match real digits, so it penalises blur, noise and missing classes alike. Its
# absolute values are specific to this classifier, so they compare models within this course,
# not with FID values from papers (which use Inception features on other data).
#
# ## Cost

# %%
print(f"{'':<10}{'parameters':>12}{'epochs':>8}{'s/epoch':>9}{'total':>10}{'images/s':>10}")
for name, (model, history) in models.items():
    ips = sum(e["images_per_s"] for e in history.epochs) / len(history.epochs)
    print(f"{name:<10}{runs.count_parameters(model):12,}{len(history.epochs):8d}{history.seconds / len(history.epochs):9.1f}"
          f"{history.seconds / 60:9.1f}m{ips:10,.0f}")
print("device of this notebook run:", runtime.describe_device(device), "(times per epoch come from the training runs' histories)")

# %% [markdown]
# Drawing a sample costs one network pass for the VAE (its decoder), the GAN (its generator)
# and RealNVP (its inverse), and one ODE solve for flow matching: with the shipped solver,
# twice as many velocity evaluations as steps. The wall-clock time per sample on this
# notebook's machine, 200 samples each:

# %%
for label, family in compared.items():
    print(f"{label:<14} {family.sample_cost}")

# %% tags=["nbval-ignore-output"]
# nbval-ignore-output: wall-clock times, which differ from run to run and machine to machine
for name, (model, _) in models.items():
    start = time.perf_counter()
    with torch.no_grad():
        model.sample(200, generator=torch.Generator().manual_seed(seed), **compared[name].sample_options)
    print(f"{name:<14} {1000 * (time.perf_counter() - start) / 200:8.2f} ms per sample")

# %% [markdown]
# ## In one sentence each
#
# * **VAE:** cheap to train, gives a code for every image and an estimate of its
#   likelihood, but its samples are blurry means or noisy binary draws.
# * **GAN:** the sharpest samples for its size, no likelihood, no encoder, and a training
#   game whose outcome depends on its settings and its seed (the GAN chapter compares two).
# * **RealNVP:** exact likelihood and exact inversion in both directions, at the price of
#   keeping every layer invertible and the dimension constant; its samples are sharper than
#   the VAE's but less convincing than the GAN's.
# * **Flow matching:** a likelihood like the flow's without invertible layers, trained by a
#   plain regression; sampling and likelihoods cost an ODE solve (tens of network
#   evaluations), the price of its freedom.
