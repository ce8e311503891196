"""Each figure carries its own description to the page, as the image's ``alt`` text.

A figure function knows what it draws, so it writes the description: what is plotted, the
axes, and the main finding in numbers (:func:`describe`). When the figure is displayed in a
notebook (inline, or through ``myst_nb.glue``), :func:`install` makes IPython store that
description in the output's metadata (``metadata["image/png"]["alt"]``, or ``image/svg+xml``
for a plot drawn as a vector image, :func:`draws_as_vector`), together with the
size of the figure's smallest text relative to its width, and, for a figure whose text would be
too small on a phone, a second image in the phone layout of :mod:`gengen_lib.legibility`
(``metadata[mime]["gengen_phone"]``). ``book/_ext/figure_alt.py`` then writes the
description into the page's ``<img alt=...>`` and shows the phone image on narrow screens.
"""

from __future__ import annotations

import re

from matplotlib.collections import Collection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from .legibility import needs_phone_layout, restacked, smallest_text

ALT, TEXT = "alt", "gengen_smallest_text"  # metadata keys: the description; smallest text / image width
PHONE = "gengen_phone"  # metadata key: {"data": the phone layout's image (PNG or SVG), TEXT: its smallest text}
PNG, SVG = "image/png", "image/svg+xml"
FORMATS = (PNG, SVG)
CSS_PX_PER_INCH = 96  # how a browser sizes an SVG whose size is in points
VECTOR_POINTS = 5000  # a plot of more points than this is lighter as a PNG


def describe(fig: Figure, alt: str) -> Figure:
    """Attach the description ``alt`` (one or a few plain sentences) to ``fig``; returns ``fig``."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("a figure's description must be a non-empty sentence; fix: describe(fig, 'what it shows')")
    fig.gengen_alt = " ".join(alt.split())
    return fig


def description(fig: Figure) -> str | None:
    """The description attached by :func:`describe`, or None."""
    return getattr(fig, "gengen_alt", None)


def figure_metadata(fig: Figure, data=None, format_metadata: dict | None = None, smallest: float | None = None) -> dict:
    """The metadata a displayed figure carries: its description (when it has one) and its smallest text
    as a fraction of the width of the image ``data`` (PNG with its formatter's ``format_metadata``, or SVG);
    ``smallest``: :func:`~gengen_lib.legibility.smallest_text` of ``fig`` when already measured."""
    metadata = {TEXT: round(_text_fraction(fig, data, format_metadata, smallest), 6)}
    if description(fig):
        metadata[ALT] = description(fig)
    return metadata


def _text_fraction(fig: Figure, data=None, format_metadata: dict | None = None, smallest: float | None = None) -> float:
    """The smallest text's height over the image's width, both in CSS px as the page shows the image.

    A PNG is drawn at ``fig.dpi`` px per inch (its formatter gives the width, which a tight crop
    changes); an SVG at 96 px per inch, its width written in points in the file.
    """
    per_inch, width = fig.dpi, (format_metadata or {}).get("width")
    if size := svg_size(data):
        per_inch, width = CSS_PX_PER_INCH, size["width"]
    smallest = smallest_text(fig) if smallest is None else smallest
    return smallest * fig.get_figwidth() * per_inch / (width or fig.get_figwidth() * per_inch)


def svg_size(data) -> dict:
    """``{"width": w, "height": h}`` in CSS px of an SVG's text (its size is written in points), else {}.

    Stored with the output, it lets the page reserve the image's box before the image loads, as it
    does for a PNG, so nothing moves when a lazily loaded plot arrives.
    """
    header = data[:2000] if isinstance(data, str) else ""  # (a PNG comes as base64 text)
    found = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"[^>]*\sheight="([\d.]+)pt"', header)
    if not found:
        return {}
    width, height = (float(points) * CSS_PX_PER_INCH / 72 for points in found.groups())
    return {"width": round(width, 2), "height": round(height, 2)}


def draws_as_vector(fig: Figure) -> bool:
    """Whether ``fig`` is lighter and sharper as an SVG: a plot of lines, bars and points (at most
    :data:`VECTOR_POINTS` of them), no image or heat map (those are PNGs)."""
    if fig.findobj(lambda artist: isinstance(artist, (AxesImage, QuadMesh))):
        return False
    points = sum(len(line.get_xydata()) for line in fig.findobj(Line2D))
    points += sum(len(c.get_offsets()) + len(c.get_paths()) for c in fig.findobj(Collection))
    return points <= VECTOR_POINTS


def phone_image(fig: Figure, format_figure, smallest: float | None = None) -> dict | None:
    """The phone layout of ``fig`` drawn by ``format_figure`` (its PNG or SVG formatter), when it needs one;
    ``smallest``: the wide figure's :func:`~gengen_lib.legibility.smallest_text` when already measured."""
    if not needs_phone_layout(fig, smallest):
        return None
    with restacked(fig):
        result = format_figure(fig)
        data, metadata = result if isinstance(result, tuple) else (result, None)
        fraction = _text_fraction(fig, data, metadata)
    return {"data": data, **(metadata or svg_size(data)), TEXT: round(fraction, 6)}


def _with_metadata(format_figure, mime: str = PNG, shell=None):
    """Wrap an IPython figure formatter so that its output carries :func:`figure_metadata` (and a phone image).

    When the ``shell`` draws figures both as PNG and as SVG, each figure gets one of the two
    (:func:`draws_as_vector`), so a page loads one image per figure.
    """

    def format_described(fig):
        if shell is not None and _both_formats(shell) and (mime == SVG) != draws_as_vector(fig):
            return None
        result = format_figure(fig)
        data, metadata = result if isinstance(result, tuple) else (result, None)
        if data is None:
            return None
        smallest = smallest_text(fig)  # measured once (a layout pass) for the page's image and the phone's
        metadata = {**(metadata or svg_size(data)), **figure_metadata(fig, data, metadata, smallest)}
        phone = phone_image(fig, format_figure, smallest)
        return data, {**metadata, PHONE: phone} if phone else metadata

    format_described.gengen_wrapped = True
    return format_described


def _both_formats(shell) -> bool:
    """Whether the shell has a figure formatter for PNG and for SVG."""
    formatters = shell.display_formatter.formatters
    try:
        return all(formatters[mime].lookup_by_type(Figure) for mime in FORMATS)
    except KeyError:
        return False


def _wrap_formatters(shell, *_) -> None:
    """Wrap the shell's formatters for matplotlib figures (those not wrapped yet)."""
    for mime in FORMATS:
        formatter = shell.display_formatter.formatters[mime]
        try:
            current = formatter.lookup_by_type(Figure)
        except KeyError:
            continue
        if not getattr(current, "gengen_wrapped", False):
            formatter.for_type(Figure, _with_metadata(current, mime, shell))


def install(shell=None) -> bool:
    """Make an IPython shell (default: the running one) store each figure's description with it.

    Call after the figure format is chosen (``set_matplotlib_formats``). The inline backend
    registers its figure formatters again when it is loaded (at the first figure), so this
    loads it first, wraps its formatters, and checks them again before every cell.
    False outside IPython.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    import matplotlib.pyplot as plt

    plt.close(plt.figure())  # loads the backend now, so that it does not replace the wrapped formatters later
    _wrap_formatters(shell)
    if not getattr(shell, "gengen_alt_text", False):
        shell.events.register("pre_run_cell", lambda *_: _wrap_formatters(shell))
        shell.gengen_alt_text = True
    return True
