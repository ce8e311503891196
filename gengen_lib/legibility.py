"""How large a figure's text shows on a page, and a second layout of each figure for phones.

The course draws its figures for the book's 688 px column (:data:`gengen_lib.plots.COLUMN_INCHES`).
A phone's column is about half as wide, and a browser that shrinks a figure to fit shrinks its
text with it, to about 6 px. So a figure whose text would show under :data:`SMALLEST_PX` there is
drawn once more, :data:`PHONE_INCHES` wide, with the same font sizes: panels that stood side by side
move under each other (at most half as many columns, each panel at least as wide as it was), and a
single panel is laid out again narrower. The book shows that image below ``PHONE_BREAKPOINT_PX``
(``book/_ext/figure_alt.py``, ``book/_ext/gengen.css``) and the wide one above it.

:func:`restacked` changes the figure only inside its ``with`` block and puts it back after.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.text import Text

PHONE_COLUMN_PX = 358  # the article column on a 390 px wide screen (16 px margins)
PHONE_BREAKPOINT_PX = 720  # narrower screens get the phone layout (book/_ext/gengen.css says the same)
PHONE_INCHES = PHONE_COLUMN_PX / 100  # matplotlib draws 100 px per inch, so the phone figure is not shrunk
SMALLEST_PX = 11  # the smallest figure text a reader should have to read
POINTS_PER_INCH = 72


def smallest_text(fig: Figure) -> float:
    """Height of the figure's smallest visible text as a fraction of the figure's width.

    Shown ``w`` CSS pixels wide, the figure's smallest text is ``w * smallest_text(fig)``
    pixels tall (font size in points over the width in points). ``inf`` when it has no text.
    """
    fig.draw_without_rendering()  # tick labels get their text when drawn
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    width_points = fig.get_figwidth() * POINTS_PER_INCH
    return min(sizes) / width_points if sizes else float("inf")


def needs_phone_layout(fig: Figure) -> bool:
    """Whether ``fig``'s smallest text would show under :data:`SMALLEST_PX` in a phone's column."""
    shown_px = min(PHONE_COLUMN_PX, fig.get_figwidth() * fig.dpi)
    return smallest_text(fig) * shown_px < SMALLEST_PX


def _panels(fig: Figure) -> list:
    """The figure's grid panels in reading order (row, then column); colorbars and insets follow their panel."""
    panels = [ax for ax in fig.axes if ax.get_subplotspec() is not None and not hasattr(ax, "_colorbar")]
    return sorted(panels, key=lambda ax: (ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start))


def _new_places(panels: list, columns: int) -> list[tuple[int, slice]]:
    """(row, columns) of each panel in a grid ``columns`` wide; a panel that spanned every column still does."""
    places, row, col = [], 0, 0
    for ax in panels:
        spec = ax.get_subplotspec()
        full_width = len(spec.colspan) == spec.get_gridspec().ncols > 1
        if full_width:
            if col:
                row, col = row + 1, 0
            places.append((row, slice(0, columns)))
            row += 1
            continue
        places.append((row, slice(col, col + 1)))
        col += 1
        if col == columns:
            row, col = row + 1, 0
    return places


@contextmanager
def restacked(fig: Figure, width: float = PHONE_INCHES):
    """Inside the block, ``fig`` is ``width`` inches wide with its panels restacked; restored on exit.

    A grid of ``R x C`` panels becomes ``max(1, floor(C * width / old width))`` columns wide, so no
    panel gets narrower, and the height grows to keep each panel's aspect ratio (up to square). A figure without a
    single grid (nested grids, free axes) is only made narrower. Font sizes never change.
    """
    old_size = fig.get_size_inches().copy()
    panels = _panels(fig)
    old_specs = [ax.get_subplotspec() for ax in panels]
    grids = {spec.get_gridspec() for spec in old_specs}
    try:
        if len(grids) == 1 and type(next(iter(grids))) is GridSpec and len(panels) > 1:
            rows, cols = next(iter(grids)).get_geometry()
            columns = max(1, min(cols, math.floor(cols * width / old_size[0])))
            places = _new_places(panels, columns)
            new_rows = places[-1][0] + 1
            scale = (width / columns) / (old_size[0] / cols)
            height = new_rows * min((old_size[1] / rows) * scale, width / columns)  # no row taller than wide
            grid = GridSpec(new_rows, columns, figure=fig)
            for ax, (row, span) in zip(panels, places, strict=True):
                ax.set_subplotspec(grid[row, span])
        else:
            height = old_size[1]
        fig.set_size_inches(width, height, forward=False)
        yield fig
    finally:
        for ax, spec in zip(panels, old_specs, strict=True):
            ax.set_subplotspec(spec)
        fig.set_size_inches(old_size, forward=False)
