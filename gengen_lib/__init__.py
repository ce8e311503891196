"""gengen_lib: the code behind the gengen course on deep generative models.

One module per concern: ``data`` (MNIST offline, views, batching), ``training`` (the one
training loop, checkpoints), ``runtime`` (device, seeds, quick mode), ``plots``
(figures), ``widgets`` (interactive sliders), ``baselines`` (likelihoods of trivial models).
"""

__version__ = "0.1.0"
