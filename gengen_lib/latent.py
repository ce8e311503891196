"""Paths through a latent space: linear and spherical interpolation.

Used by the GAN chapter (walks between two noise vectors) and the flows chapter (walks
between the codes of two digits). Shapes: ``z0`` and ``z1`` are (D,) or (N, D); ``t`` is a
scalar or a (T,) tensor of positions in [0, 1]; the result is (D,) / (N, D) for a scalar
``t`` and (T, D) for a vector ``t``.
"""

from __future__ import annotations

import torch


def _as_column(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, 1) if t.ndim else t


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1: a straight chord through the inside of the sphere."""
    t = _as_column(t, z0)
    return (1 - t) * z0 + t * z1


def _unit(z: torch.Tensor, norm: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """z / |z|, or ``fallback`` where z is the zero vector."""
    zero = norm == 0
    return torch.where(zero, fallback, z / torch.where(zero, torch.ones_like(norm), norm))


def _orthogonal_unit(u: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to the unit vector u (along the axis least aligned with u)."""
    axis = torch.zeros_like(u).scatter_(-1, u.abs().argmin(dim=-1, keepdim=True), 1.0)
    w = axis - (axis * u).sum(-1, keepdim=True) * u
    return w / w.norm(dim=-1, keepdim=True)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation: the direction turns along the great circle from z0 to z1 at
    constant angular speed, and the norm goes linearly from |z0| to |z1|.

    This is a variant of Shoemake's slerp, which rotates between *unit* vectors: for two
    codes of equal norm the two agree and every point keeps that norm, and codes of
    different lengths are handled too. The angle comes from ``atan2(sin, cos)`` (``arccos``
    of the cosine loses digits near 0 and pi), and the path ends on z1 at every angle:
    t = 0 gives z0 and t = 1 gives z1 to rounding. Endpoints less than ``eps`` radians
    from antiparallel, where the great circle is not (numerically) unique, turn through a
    fixed orthogonal direction; a zero endpoint takes the direction of the other one (the
    path is then the straight line, as for ``lerp``).
    """
    t = _as_column(t, z0)
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    u1 = _unit(z1, n1, torch.zeros_like(z1))
    u0 = _unit(z0, n0, u1)
    u1 = _unit(z1, n1, u0)
    cos = (u0 * u1).sum(-1, keepdim=True)
    rest = u1 - cos * u0  # the part of u1 orthogonal to u0; its length is sin(omega)
    sin = rest.norm(dim=-1, keepdim=True)
    omega = torch.atan2(sin, cos)
    # Near parallel, `rest` is small but still points the right way (any rounding in it moves the
    # path by less than the angle itself); near antiparallel it points nowhere in particular.
    usable = (sin > 0) & ((cos >= 0) | (sin > eps))
    w = torch.where(usable, rest / torch.where(usable, sin, torch.ones_like(sin)), _orthogonal_unit(u0))
    w = w - (w * u0).sum(-1, keepdim=True) * u0  # re-orthogonalise: rounding in `rest` is amplified by 1/sin
    w = w / w.norm(dim=-1, keepdim=True)
    end = torch.cos(omega) * u0 + torch.sin(omega) * w  # u1 up to rounding, or up to ~eps near antiparallel
    direction = torch.cos(t * omega) * u0 + torch.sin(t * omega) * w + t * (u1 - end)
    return direction * ((1 - t) * n0 + t * n1)


def code_from_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The latent code (z_dim,) the course calls "seed ``seed``": z ~ N(0, I), float32, drawn
    from a generator seeded with ``seed`` (the GAN chapter's walks, its widget and the page's bank)."""
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))
