"""Likelihoods of the two trivial models every chapter compares against (all in nats).

* The uniform model gives every binary image probability 2^-784, so its negative
  log-likelihood is 784 ln 2 = 543.4 nats per image, whatever the data.
* The per-pixel marginal model is an independent Bernoulli per pixel whose mean is that
  pixel's frequency in the training set: the best model that ignores all correlations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import PIXELS


def uniform_nll(pixels: int = PIXELS, levels: int = 2) -> float:
    """NLL in nats of one image under the uniform model over ``levels`` values per pixel."""
    return pixels * math.log(levels)


def nats_to_bits_per_dim(nll_nats: float | torch.Tensor, dims: int = PIXELS):
    """Convert a per-image NLL in nats to bits per dimension."""
    return nll_nats / (dims * math.log(2))


def pixel_marginals(x_binary: torch.Tensor, pseudocount: float = 1.0) -> torch.Tensor:
    """Per-pixel frequency of ones in (N, 784) binary data, with add-``pseudocount`` smoothing.

    Smoothing keeps every probability strictly inside (0, 1), so a pixel that is never on
    in the training set costs a finite number of nats when it is on in the test set.
    """
    ones = x_binary.sum(0)
    return (ones + pseudocount) / (len(x_binary) + 2 * pseudocount)


def bernoulli_nll(x_binary: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Per-image NLL in nats of (N, 784) binary data under independent Bernoulli ``probs``."""
    logits = torch.logit(probs).expand_as(x_binary)
    return F.binary_cross_entropy_with_logits(logits, x_binary, reduction="none").sum(-1)
