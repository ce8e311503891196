"""The registry of model families: every kind of model the course trains, in the book's order.

The command line, the shipped models (:mod:`gengen_lib.pretrained`), the comparison chapter
and the contract tests iterate over :data:`FAMILIES`. Adding a family is its own module
ending in ``FAMILY = Family(...)`` (see :mod:`gengen_lib.family`) plus its line below.
"""

from __future__ import annotations

from . import flow_matching, flows, gan, quality, toy, vae
from .family import Family

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (vae.FAMILY, gan.FAMILY, flows.FAMILY, toy.FAMILY, flow_matching.FAMILY, toy.FLOW_MATCHING_FAMILY,
              quality.FAMILY)  # fmt: skip
}

# Every shipped model: its name -> (its family, the settings it was trained with).
SHIPPED: dict[str, tuple[Family, object]] = {
    name: (family, settings) for family in FAMILIES.values() for name, settings in family.shipped.items()
}


def family(name: str) -> Family:
    """The family called ``name``; an unknown name is refused in one line that lists the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
