"""Each figure carries its own description to the page, as the image's ``alt`` text.

A figure function knows what it draws, so it writes the description: what is plotted, the
axes, and the main finding in numbers (:func:`describe`). When the figure is displayed in a
notebook (inline, or through ``myst_nb.glue``), :func:`install` makes IPython store that
description in the output's metadata (``metadata["image/png"]["alt"]``), together with the
size of the figure's smallest text relative to its width; ``book/_ext/figure_alt.py`` then
writes the description into the page's ``<img alt=...>``.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.text import Text

ALT, TEXT = "alt", "gengen_smallest_text"  # metadata keys: the description; smallest text / figure width
FORMATS = ("image/png", "image/svg+xml")
POINTS_PER_INCH = 72


def describe(fig: Figure, alt: str) -> Figure:
    """Attach the description ``alt`` (one or a few plain sentences) to ``fig``; returns ``fig``."""
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("a figure's description must be a non-empty sentence; fix: describe(fig, 'what it shows')")
    fig.gengen_alt = " ".join(alt.split())
    return fig


def description(fig: Figure) -> str | None:
    """The description attached by :func:`describe`, or None."""
    return getattr(fig, "gengen_alt", None)


def smallest_text(fig: Figure) -> float:
    """Height of the figure's smallest visible text as a fraction of the figure's width.

    Shown ``w`` CSS pixels wide, the figure's smallest text is ``w * smallest_text(fig)``
    pixels tall (font size in points over the width in points). ``inf`` when it has no text.
    """
    fig.draw_without_rendering()  # tick labels get their text when drawn
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    width_points = fig.get_figwidth() * POINTS_PER_INCH
    return min(sizes) / width_points if sizes else float("inf")


def figure_metadata(fig: Figure) -> dict:
    """The metadata a displayed figure carries: its description (when it has one) and its smallest text."""
    metadata = {TEXT: round(smallest_text(fig), 6)}
    if description(fig):
        metadata[ALT] = description(fig)
    return metadata


def _with_metadata(format_figure):
    """Wrap an IPython figure formatter so that its output carries :func:`figure_metadata`."""

    def format_described(fig):
        result = format_figure(fig)
        data, metadata = result if isinstance(result, tuple) else (result, None)
        if data is None:
            return None
        return data, {**(metadata or {}), **figure_metadata(fig)}

    format_described.gengen_wrapped = True
    return format_described


def _wrap_formatters(shell, *_) -> None:
    """Wrap the shell's formatters for matplotlib figures (those not wrapped yet)."""
    for mime in FORMATS:
        formatter = shell.display_formatter.formatters[mime]
        try:
            current = formatter.lookup_by_type(Figure)
        except KeyError:
            continue
        if not getattr(current, "gengen_wrapped", False):
            formatter.for_type(Figure, _with_metadata(current))


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
