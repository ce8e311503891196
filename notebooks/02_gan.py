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
# # Generative adversarial networks
#
# A GAN learns to generate without ever writing down a density. A **generator** $G$ turns
# noise into images; a **discriminator** $D$ tries to tell those images from real ones; each
# is trained against the other. This chapter answers questions 2.1–2.7 of the reference
# report, trains the report's GAN on MNIST, and measures its samples with a metric that works
# offline.

# %% tags=["parameters"]
# Parameters (papermill: -p quick True, or set GENGEN_QUICK=1)
quick = False
pretrained = True  # use the shipped GANs and classifier in weights/; False trains them (about 15 min each on a CPU)
seed = 0
n_eval = 10_000

# %%
import math

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import torch
from myst_nb import glue

from gengen_lib import alt_text, figures, gan, latent, plots, pretrained as shipped, quality, runs, runtime, widgets

runtime.check_flags(pretrained=pretrained)
runtime.check_positive_ints(n_eval=n_eval)
quick, device = runtime.notebook_setup(quick, seed)
if quick:  # CI: the quick settings (a subset of the data, one epoch) and small evaluations
    n_eval = 1000

# %% [markdown]
# (q2-1)=
# ## Q2.1 What goes in, what comes out
#
# | network | input | output |
# |---|---|---|
# | generator $G$ | a noise vector $z \sim \mathcal{N}(0, I_{100})$ | an image $G(z) \in [-1, 1]^{784}$ |
# | discriminator $D$ | an image in data space, real (from the training set) or fake (from $G$) | one number $D(x) \in (0, 1)$: the probability that $x$ is real |
#
# ```{figure} ../book/diagrams/gan.svg
# :name: diagram-gan
# :alt: Diagram: noise z into the generator G gives a fake image; a real image comes from the training set; both go to the discriminator D, which outputs the probability of real. D maximises log D(x) + log(1 - D(G(z))), G minimises -log D(G(z)).
# :width: 480px
#
# The two players: $G$ turns noise into images, $D$ scores real and generated images, and each is trained against the other (Q2.2, Q2.4).
# ```
#
# ```{admonition} Correction
# :class: warning
# The report says "for the *generator*, the input is a vector in the data space". That
# sentence describes the *discriminator*; the generator's input is the noise vector.
# ```
#
# (q2-2)=
# ## Q2.2 The two terms of the objective
#
# The game is $\min_G \max_D V(D, G)$ with
#
# $$
# V(D, G) = \mathbb{E}_{x \sim p_{\text{data}}}\big[\log D(x)\big] + \mathbb{E}_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big].
# $$
#
# * $\mathbb{E}_{p_{\text{data}}}[\log D(x)]$ is the log-probability the discriminator gives to
#   the correct answer "real" on training images. $D$ raises it by recognising real digits.
# * $\mathbb{E}_{p(z)}[\log(1 - D(G(z)))]$ is the log-probability of the correct answer
#   "fake" on generated images. $D$ raises it by catching fakes; $G$ lowers it by making
#   fakes that $D$ mistakes for real ones. Only this term depends on $G$.
#
# Maximising $V$ over $D$ is ordinary logistic regression (binary cross-entropy) between real
# and generated images.
#
# (q2-3)=
# ## Q2.3 The value at equilibrium
#
# For a fixed $G$ the best discriminator is $D^*(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_g(x)}$,
# and plugging it in gives $V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_{\text{data}} \,\|\, p_g)$.
# The Jensen–Shannon divergence is zero only when $p_g = p_{\text{data}}$; then $D^* = \tfrac12$
# everywhere and
#
# $$
# V(D^*, G^*) = \log \tfrac12 + \log \tfrac12 = -\log 4 \approx -1.3863 .
# $$
#
# A numerical check on a 1-d toy problem where everything is known: $p_{\text{data}} = \mathcal{N}(0, 1)$,
# $p_g = \mathcal{N}(\mu, 1)$, with the optimal discriminator and the expectations computed on
# a fine grid. As the generator's mean $\mu$ approaches the data's, $V$ falls to $-\log 4$:

# %%
from torch.distributions import Normal

x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
dx = (x[1] - x[0]).item()
log_p_data = Normal(0.0, 1.0).log_prob(x)
print(f"-log 4 = {-math.log(4):.6f}")
print("  mu    V(D*, G)    -log 4 + 2 JSD    D* at x = 0")
for mu in [3.0, 1.0, 0.5, 0.1, 0.0]:
    log_p_g = Normal(mu, 1.0).log_prob(x)
    log_sum = torch.logaddexp(log_p_data, log_p_g)  # log(p_data + p_g), computed without underflow
    log_d, log_one_minus_d = log_p_data - log_sum, log_p_g - log_sum  # log D*, log(1 - D*)
    value = ((log_p_data.exp() * log_d + log_p_g.exp() * log_one_minus_d).sum() * dx).item()
    log_m = log_sum - math.log(2)
    jsd = 0.5 * ((log_p_data.exp() * (log_p_data - log_m)).sum() + (log_p_g.exp() * (log_p_g - log_m)).sum()).item() * dx
    print(f"{mu:5.1f}  {value:10.6f}  {-math.log(4) + 2 * jsd:14.6f}  {log_d[100_000].exp().item():12.4f}")

# %% [markdown]
# (q2-4)=
# ## Q2.4 Saturation, and a different generator objective
#
# Early in training $G$ is poor, $D$ rejects its samples confidently, $D(G(z)) \approx 0$,
# and the generator's term $\log(1 - D(G(z)))$ is flat there: its gradient with respect to
# the discriminator's logit $a$ (with $D = \sigma(a)$) is $-\sigma(a) = -D$, which vanishes as
# $D \to 0$. The generator learns nothing exactly when it most needs to.
#
# The usual fix is to let $G$ **maximise** $\log D(G(z))$ instead (minimise $-\log D(G(z))$),
# the "non-saturating" loss. Its gradient with respect to the logit is $-(1 - D)$: close to
# $-1$ when $D(G(z)) \approx 0$, and small only once $G$ fools $D$.
#
# ```{admonition} Correction
# :class: warning
# The report calls the non-saturating objective "equivalent" to the minimax game. It is a
# *different* objective: the generator no longer minimises $V$, and the pair of objectives is
# no longer a zero-sum game. What the two share is the fixed point ($p_g = p_{\text{data}}$,
# $D = \tfrac12$); the reason to switch is the *gradient*, shown below.
# ```

# %%
d = torch.tensor([0.001, 0.01, 0.1, 0.5, 0.9, 0.99])
logit = torch.logit(d).requires_grad_(True)
(g_minimax,) = torch.autograd.grad(gan.generator_loss(logit, "minimax") * len(d), logit)
logit = torch.logit(d).requires_grad_(True)
(g_ns,) = torch.autograd.grad(gan.generator_loss(logit, "non_saturating") * len(d), logit)
print("D(G(z))   d/da log(1 - D)   d/da [-log D]     (a = logit of D; the generator descends these)")
for di, gm, gn in zip(d.tolist(), g_minimax.tolist(), g_ns.tolist()):
    print(f"{di:7.3f}   {gm:15.4f}   {gn:14.4f}")

# %% tags=["hide-input"]
fig = figures.generator_losses()

# %% [markdown]
# (q2-5)=
# ## Q2.5 Training the report's GAN
#
# | part | layers |
# |---|---|
# | generator | 100 → 128 → 256 → 512 → 1024 → 784; LeakyReLU(0.2); batch norm on the hidden layers after the first; tanh output |
# | discriminator | 784 → 512 → 256 → 1; LeakyReLU(0.2); dropout 0.3 (setting b) |
# | training | Adam, learning rate $2 \times 10^{-4}$, $\beta = (0.5, 0.999)$, batch 64; one $D$ step, then one $G$ step; non-saturating $G$ loss |
# | data | 50,000 training images scaled to $[-1, 1]$ |
#
# We train two settings, as the report does:
#
# * **(a)** no dropout, real targets exactly 1;
# * **(b)** dropout 0.3 in $D$ and *noisy labels*: each real image's target drawn from $\mathcal{U}[0.7, 1.2]$.
#
# ```{admonition} Correction
# :class: warning
# The report calls (b) "one-sided label smoothing, with values between 0.7 and 1.2". One-sided
# label smoothing (Salimans et al., 2016) replaces the real target 1 by a *fixed* value below
# 1, such as 0.9, and leaves fake targets at 0. Targets drawn at random from $[0.7, 1.2]$,
# some of them *above* 1, are **noisy labels**, a different regulariser. Both are available
# (`real_target="smooth"` and `real_target="noisy"`); setting (b) uses the noisy labels the
# report actually describes. A "target" above 1 is legal for binary cross-entropy with logits
# (the loss is still minimised at a finite logit only when the target is in $[0, 1]$; above 1
# it keeps pushing $D$'s logit up).
# ```
#
# The three target schemes side by side (100,000 draws each):

# %%
gen = torch.Generator().manual_seed(0)
print("scheme    name                          mean    min    max   share above 1")
names = {"one": "hard targets", "smooth": "one-sided label smoothing", "noisy": "noisy labels U[0.7, 1.2]"}
for kind in gan.REAL_TARGETS:
    t = gan.real_targets(kind, 100_000, generator=gen)
    print(f"{kind:<8}  {names[kind]:<28} {t.mean():6.3f} {t.min():6.3f} {t.max():6.3f}   {(t > 1).float().mean():8.1%}")

# %% [markdown]
# To watch sample quality during training we need a yardstick. There is no Inception network
# offline, so we train a small convolutional MNIST classifier once and use its 128-d
# features and class probabilities instead (`gengen_lib.quality`): the **MNIST-FID**
# (Fréchet distance between feature statistics of samples and of real test digits; 0 means
# identical statistics), a **classifier score** (the Inception Score's formula; between 1 and
# 10), and the **class histogram** (mode collapse shows up as a missing or dominant digit).

# %%
classifier_settings = quality.ClassifierSettings.for_mode(quick)
classifier = shipped.load_or_train("classifier", classifier_settings, pretrained=pretrained)[0]
meter = quality.SampleQualityMeter(classifier)
test_set = quality.load_mnist("test")
print(f"classifier test accuracy: {quality.accuracy(classifier, quality.intensities(test_set.images), test_set.labels):.2%}")

# %%
real_test = meter.summary(quality.intensities(quality.load_mnist("test").images))
real_train = meter.summary(quality.intensities(quality.load_mnist("train").images[:10_000]))
noise = meter.summary(torch.rand(10_000, 784, generator=torch.Generator().manual_seed(0)))
print("sanity check of the metric (10,000 images each):")
for name, s in [("real training images", real_train), ("real test images", real_test), ("uniform noise", noise)]:
    print(f"  {name:<22} MNIST-FID {s['fid']:8.2f}   score {s['classifier_score']:5.2f}   class entropy {s['class_entropy']:.3f}")

# %%
n_scored = gan.samples_scored_per_epoch(quick)  # as `python -m gengen_lib train gan` scores them
sample_quality = quality.sample_quality_callback(meter, n=n_scored, seed=seed)  # scored after every epoch
settings = {
    "a": gan.GANSettings.for_mode(quick, dropout=0.0, real_target="one", seed=seed),
    "b": gan.GANSettings.for_mode(quick, dropout=0.3, real_target="noisy", seed=seed),
}
trained = {k: shipped.load_or_train("gan", s, pretrained=pretrained, device=device, quiet=quick, evaluate=sample_quality)
           for k, s in settings.items()}
for k, (model, history) in trained.items():
    print(f"({k}) {len(history.epochs)} epochs in {history.seconds:.0f} s, "
          f"{history.seconds / len(history.epochs):.1f} s per epoch on {runtime.describe_device(device)}")

# %% [markdown]
# **Which optimum do the reference lines belong to?** With our convention the discriminator
# minimises $L_D = \mathrm{BCE}(D(x), 1) + \mathrm{BCE}(D(G(z)), 0) = -\log D(x) - \log(1 - D(G(z)))$,
# the negative of $V$ per batch. At the equilibrium $D = \tfrac12$, so $L_D = 2 \log 2 = \log 4$;
# the non-saturating generator loss $-\log D(G(z))$ equals $\log 2$ there. (With the noisy
# targets of setting (b), the real term's minimum is no longer at $D = \tfrac12$ exactly;
# the lines remain the reference for the game itself.) The library's losses confirm it:

# %%
half = torch.zeros(64)  # discriminator logits 0, i.e. D = 1/2 on every image
print(f"L_D at D = 1/2:                  {gan.discriminator_loss(half, half, torch.ones(64)):.6f}   log 4 = {math.log(4):.6f}")
print(f"L_G (non-saturating) at D = 1/2: {gan.generator_loss(half, 'non_saturating'):.6f}   log 2 = {math.log(2):.6f}")
print(f"L_G (minimax) at D = 1/2:        {gan.generator_loss(half, 'minimax'):.6f}  -log 2")


# %% tags=["hide-input"]
titles = {"a": "(a) no dropout, real targets 1", "b": "(b) dropout 0.3, noisy real targets U[0.7, 1.2]"}
fig = figures.gan_losses({k: history for k, (model, history) in trained.items()}, titles)
plots.glue_figure("fig-gan-losses", fig)

# %% [markdown]
# ```{glue:figure} fig-gan-losses
# :name: fig-gan-losses
#
# Discriminator and generator losses of both settings (the report's Figure 4).
# ```
#
# (q2-6)=
# ## Q2.6 Samples during training
#
# The same 64 noise vectors decoded before training, halfway and at the end, for both
# settings; then the sample-quality metrics after every epoch.

# %% tags=["hide-input"]
for k, (model, history) in trained.items():
    fig = plots.show_snapshots(history, f"({k}) ", finding="From noise at the start to digit-like images at the end.")
    plots.glue_figure(f"fig-gan-samples-{k}", fig)

# %% [markdown]
# ```{glue:figure} fig-gan-samples-a
# :name: fig-gan-samples-a
#
# Samples of setting (a), no dropout and real targets 1, before training, halfway and at
# the end (the report's Figure 5).
# ```
#
# ```{glue:figure} fig-gan-samples-b
# :name: fig-gan-samples-b
#
# The same for setting (b), dropout 0.3 and noisy real targets.
# ```

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(plots.COLUMN_INCHES, 5.6), sharex=True, layout="constrained")
for k, (model, history) in trained.items():
    ax1.plot(range(1, len(history.epochs) + 1), history.curve("fid"), "o-", ms=3, label=titles[k])
    ax2.plot(range(1, len(history.epochs) + 1), history.curve("class_entropy"), "o-", ms=3, label=titles[k])
# The floor is real *training* images scored against the test set (real test images against themselves score 0).
ax1.axhline(real_train["fid"], ls="--", color="gray", lw=1)
ax1.annotate(f"real training images: {real_train['fid']:.2f}", (1, real_train["fid"]), xytext=(2, 4),
             textcoords="offset points", color="dimgray")  # fmt: skip
ax1.set_yscale("log")
ax1.set_ylabel("MNIST-FID (lower is better)")
ax2.axhline(math.log(10), ls="--", color="gray", lw=1)
ax2.annotate("ln 10: all classes equally often", (1, math.log(10)), xytext=(2, -14), textcoords="offset points",
             color="dimgray")  # fmt: skip
ax2.set_ylabel("class-histogram entropy [nats]")
ax2.set_xlabel("epoch")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
fig.legend(*ax1.get_legend_handles_labels(), loc="outside lower center")  # one legend, below: it hides no curve
fids = {k: history.curve("fid") for k, (model, history) in trained.items()}
fig = alt_text.describe(fig, f"Two panels against the training epoch, one line per setting. Top: MNIST-FID of {n_scored:,} samples "
                             "on a log axis, " + "; ".join(f"{titles[k]} from {f[0]:.0f} to {f[-1]:.1f}" for k, f in fids.items())
                             + f", above the floor of real training images, {real_train['fid']:.2f} (dashed). Bottom: the "
                             f"entropy of the class histogram in nats, near its maximum ln 10 = {math.log(10):.2f} (dashed) "
                             f"when all digits appear equally often.")  # fmt: skip

# %% tags=["hide-input"]
# the draws of weights/manifest.json (10,000 in blocks of 1,000 from the seed): the same numbers on every page
final = {k: quality.sample_quality(model, meter, n_eval, seed=seed) for k, (model, history) in trained.items()}
fig = figures.class_histograms({titles[k]: s["class_counts"] for k, s in final.items()},
                               title="class histogram of the final samples",
                               what=("setting", "settings"))
better = min(final, key=lambda k: final[k]["fid"])  # the setting the comparison page shows
glue("gan_final_fid", final[better]["fid"], display=False)
glue("gan_final_largest", final[better]["largest_class_share"], display=False)
glue("gan_largest_share_low", min(s["largest_class_share"] for s in final.values()), display=False)
glue("gan_largest_share_high", max(s["largest_class_share"] for s in final.values()), display=False)

# %% [markdown]
# In our full run neither setting collapsed within its 20 epochs: every digit appears, the
# largest class takes {glue:text}`gan_largest_share_low:.1%` to {glue:text}`gan_largest_share_high:.1%`
# of the samples (an even share is 10%), and the plain setting (a) ends with the lower
# MNIST-FID (see the results table below). The report saw (a) collapse; the outcome of a GAN
# run depends on the seed and the number of epochs, which is why measuring it matters.
#
# The samples are continuous-valued (the generator models grey levels in $[-1, 1]$), so they
# look smoother than the VAE's binary samples; that is a property of the data each model was
# given, not only of the model. The class histogram is the quickest test for mode collapse:
# a collapsed generator puts most of its samples on one or two digits.
#
# (q2-7)=
# ## Q2.7 Walking through latent space
#
# Fix two seeds, hence two noise vectors $z_0, z_1$, and decode points along a path between
# them. **Linear** interpolation $(1 - t) z_0 + t z_1$ cuts through the inside of the sphere;
# **spherical** interpolation (slerp) follows the great circle, interpolating the norm
# linearly and rotating the direction at constant angular speed.
#
# Why it matters: in 100 dimensions a standard normal vector has norm close to
# $\sqrt{100} = 10$ with little spread; almost no prior mass lies near the centre. The
# midpoint of two independent such vectors has norm about $10/\sqrt 2 \approx 7.1$, a region
# the generator never saw during training:

# %%
gen = torch.Generator().manual_seed(0)
prior_norms = torch.randn(100_000, 100, generator=gen).norm(dim=-1)
print(f"norm of z ~ N(0, I_100): mean {prior_norms.mean():.3f}, std {prior_norms.std():.3f}, "
      f"1st percentile {prior_norms.quantile(0.01):.2f}")
z0 = torch.randn(100, generator=torch.Generator().manual_seed(1))
z1 = torch.randn(100, generator=torch.Generator().manual_seed(2))
t = torch.linspace(0, 1, 9)
print("   t   |lerp|   |slerp|")
for ti, a, b in zip(t.tolist(), latent.lerp(z0, z1, t).norm(dim=-1).tolist(), latent.slerp(z0, z1, t).norm(dim=-1).tolist()):
    print(f"{ti:5.3f}  {a:6.3f}   {b:6.3f}")

# %% tags=["hide-input"]
best = min(final, key=lambda k: final[k]["fid"])  # the setting with the better samples
generator = trained[best][0].cpu().generator.eval()
decode = lambda z: (generator(z) + 1) / 2
fig = figures.interpolations(decode, pairs=[(1, 2), (3, 4), (5, 6)], z_dim=generator.z_dim)
plots.glue_figure("fig-gan-interpolation", fig)
glue("best_setting", best, display=False)

# %% [markdown]
# ```{glue:figure} fig-gan-interpolation
# :name: fig-gan-interpolation
#
# Linear and spherical paths between three pairs of codes, decoded by the generator of the
# setting with the lower MNIST-FID, {glue:text}`best_setting` (the report's Figure 6).
# ```
#
# Both paths change the digit smoothly, which says the generator maps nearby codes to
# similar images. Differences between the two are subtle for this generator, although the
# middle of a linear path is about a third shorter than typical codes. (Batch norm does not
# rescue it: in evaluation mode it is a fixed affine map with the running statistics, so a
# shorter code simply gives smaller pre-activations.) In higher-dimensional latents and
# convolutional generators the shrunken midpoints of linear paths are more visibly washed out.
#
# A note on the name: Shoemake's slerp rotates between two *unit* vectors. Our `slerp` rotates
# the directions that way and interpolates the norms linearly, so that it also behaves between
# codes of different lengths; for codes of equal norm the two agree.
#
# **Try it** on the [latent walk page](../book/gan_explorer.md), where this generator runs in the
# browser: choose two seeds (or draw new codes), the path and the position, and compare both paths
# and their lengths side by side. In JupyterLab (`make lab`) a widget below this paragraph does
# the same with the notebook's kernel.

# %% tags=["nbval-ignore-output", "remove-output"]
# nbval-ignore-output: a live widget; its view has a random id and is not stored, so there is nothing to compare
# Sliders that run Python: they react in JupyterLab (make lab) only, so this page shows no output here.
widgets.interpolation_explorer(decode, z_dim=100, interpolate={"spherical": latent.slerp, "linear": latent.lerp})

# %% [markdown]
# ## Results
#
# Scores of 10,000 fresh samples per setting (full mode), against the 10,000 real test
# images; the real-data rows show the metric's floor.

# %%
rows = [("real training images (floor)", real_train)] + [(titles[k], final[k]) for k in final]
width = max(len(name) for name, _ in rows)
print(f"{'':<{width}}{'MNIST-FID':>10}{'score':>7}{'class entropy':>15}{'largest class':>15}")
for name, s in rows:
    print(f"{name:<{width}}{s['fid']:10.2f}{s['classifier_score']:7.2f}{s['class_entropy']:15.3f}{s['largest_class_share']:15.1%}")
print()
for k, (model, history) in trained.items():
    print(f"({k}) {len(history.epochs)} epochs, {history.seconds / 60:.1f} min, "
          f"{history.seconds / len(history.epochs):.1f} s per epoch, "
          f"{runs.count_parameters(model.generator):,} generator / {runs.count_parameters(model.discriminator):,} discriminator parameters")
print("device of this notebook run:", runtime.describe_device(device), "(times per epoch come from the training runs' histories)")

# %% [markdown]
# ## What to remember
#
# * $G$ maps noise to images, $D$ maps images to a probability of "real"; the minimax value at equilibrium is $-\log 4$.
# * The non-saturating generator loss is a different objective with the same fixed point, chosen for its gradient when $D$ wins.
# * One-sided label smoothing lowers real targets to a fixed value below 1; random targets in $[0.7, 1.2]$ are noisy labels.
# * Without a likelihood, sample quality needs a yardstick: here an MNIST classifier's FID, score and class histogram.
# * Slerp keeps latent codes on the shell where the prior's mass lies; lerp cuts through its nearly empty centre.
