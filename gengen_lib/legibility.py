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
import re
import textwrap
from contextlib import contextmanager

from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.legend import Legend
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
    hidden = set()  # the texts of a hidden panel, and the tick labels of an axis turned off (an image's)
    for ax in fig.axes:
        parts = (ax,) if not ax.get_visible() else () if ax.axison else (ax.xaxis, ax.yaxis)
        hidden.update(text for part in parts for text in part.findobj(Text))
    shown = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t not in hidden]
    sizes = [t.get_fontsize() for t in shown]
    width_points = fig.get_figwidth() * POINTS_PER_INCH
    return min(sizes) / width_points if sizes else float("inf")


def needs_phone_layout(fig: Figure, smallest: float | None = None) -> bool:
    """Whether ``fig``'s smallest text would show under :data:`SMALLEST_PX` in a phone's column
    (``smallest``: its :func:`smallest_text` when already measured)."""
    shown_px = min(PHONE_COLUMN_PX, fig.get_figwidth() * fig.dpi)
    return (smallest_text(fig) if smallest is None else smallest) * shown_px < SMALLEST_PX


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


def _row_heights(fig: Figure, panels: list, places: list, scales: list[float], cap: float) -> list[float]:
    """Inches of each new row: its tallest panel as drawn now (title and labels included); the box of a
    panel of fixed aspect (an image) scaled as its width, a free one (a plot) as tall as it was."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    heights = [0.0] * (places[-1][0] + 1)
    for ax, (row, _), scale in zip(panels, places, scales, strict=True):
        drawn = ax.get_tightbbox(renderer).height / fig.dpi  # the panel with its title and labels
        box = ax.bbox.height / fig.dpi  # the axes alone: what an image's fixed aspect scales
        height = drawn + box * (scale - 1) if ax.get_aspect() != "auto" else drawn
        heights[row] = max(heights[row], min(height, cap))
    return heights


def _set_legend_columns(legend: Legend, columns: int, labels: list[str]) -> None:
    """Lay ``legend`` out in ``columns`` columns with ``labels``: matplotlib packs a legend's box once,
    when it is made, so the box is packed again (its handles and title kept)."""
    handles, title = list(legend.legend_handles), legend.get_title().get_text()
    legend.set_ncols(columns)
    legend._init_legend_box(handles, labels)
    legend._legend_box.set_offset(legend._findoffset)  # what Legend.__init__ does after packing
    legend.set_title(title or None)


def _fit_text_to_width(fig: Figure) -> list:
    """Narrow what is wider than the figure: a legend loses columns, then long labels and texts are
    wrapped, and a title wider than its panel's column too (it would run into the next panel).
    Returns the steps that undo it, to run in reverse order."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    limit = 0.98 * fig.get_figwidth() * fig.dpi
    undo = []

    def wrap(text: Text, fraction: float) -> None:
        content = text.get_text()
        undo.append(lambda: text.set_text(content))
        # A formula ($...$) is never broken: its spaces are hidden from textwrap.
        unbreakable = re.sub(r"\$[^$]*\$", lambda formula: formula.group().replace(" ", "\0"), content)
        text.set_text(textwrap.fill(unbreakable, max(8, int(len(content) * fraction))).replace("\0", " "))

    for legend in fig.findobj(Legend):
        columns, labels = legend._ncols, [text.get_text() for text in legend.get_texts()]
        while legend._ncols > 1 and legend.get_window_extent(renderer).width > limit:
            _set_legend_columns(legend, legend._ncols - 1, labels)
        if legend._ncols != columns:
            undo.append(lambda legend=legend, columns=columns, labels=labels:
                        _set_legend_columns(legend, columns, labels))  # fmt: skip
        shown = legend.get_window_extent(renderer).width
        if shown > limit:  # still: its labels are too long, shorten each in proportion
            for text in legend.get_texts():
                wrap(text, 0.95 * limit / shown)
    rooms = {}  # a panel's title may be as wide as the panel's share of the figure's width
    for ax in _panels(fig):
        spec = ax.get_subplotspec()
        share = len(spec.colspan) / spec.get_gridspec().ncols
        rooms.update({title: share * limit for title in (ax.title, ax._left_title, ax._right_title)})
    for text in fig.findobj(Text):
        content = text.get_text()
        if text.get_visible() and "\n" not in content and len(content) >= 12:
            shown, room = text.get_window_extent(renderer).width, rooms.get(text, limit)
            if shown > room:  # wider than the figure, or a title wider than its panel's column
                wrap(text, 0.95 * room / shown)
    return undo


@contextmanager
def restacked(fig: Figure, width: float = PHONE_INCHES):
    """Inside the block, ``fig`` is ``width`` inches wide with its panels restacked; restored on exit.

    A grid of ``R x C`` panels becomes ``max(1, floor(C * width / old width))`` columns wide, so no
    panel gets narrower; each row is as tall as its tallest panel, an image scaled with its width, a
    plot as tall as before (at most square). A figure without a single grid (nested grids, free
    axes) is only made narrower. Font sizes never change: a legend wider than the new figure gets
    fewer columns, and a title or label wider than it is wrapped.
    """
    old_size = fig.get_size_inches().copy()
    panels = _panels(fig)
    old_specs = [ax.get_subplotspec() for ax in panels]
    grids = {spec.get_gridspec() for spec in old_specs}
    undo, relabelled = [], []
    try:
        if len(grids) == 1 and type(next(iter(grids))) is GridSpec and len(panels) > 1:
            cols = next(iter(grids)).get_geometry()[1]
            columns = max(1, min(cols, math.floor(cols * width / old_size[0])))
            places = _new_places(panels, columns)
            scales = [(width * (span.stop - span.start) / columns) / (old_size[0] * len(spec.colspan) / cols)
                      for spec, (_, span) in zip(old_specs, places, strict=True)]  # fmt: skip
            rows = _row_heights(fig, panels, places, scales, cap=width / columns)
            grid = GridSpec(len(rows), columns, figure=fig, height_ratios=rows)
            for ax, (row, span) in zip(panels, places, strict=True):
                ax.set_subplotspec(grid[row, span])
                if span.start == 0 and not ax.yaxis.get_tick_params().get("labelleft", True):
                    ax.yaxis.set_tick_params(which="both", labelleft=True)  # shared y, now in the first column
                    relabelled.append(ax)
            height = sum(rows) + (0.3 if fig.get_suptitle() else 0.0)  # the panels' boxes leave out a suptitle
        else:
            height = old_size[1]
        fig.set_size_inches(width, height, forward=False)
        undo = _fit_text_to_width(fig)
        yield fig
    finally:
        for step in reversed(undo):
            step()
        for ax in relabelled:
            ax.yaxis.set_tick_params(which="both", labelleft=False)
        for ax, spec in zip(panels, old_specs, strict=True):
            ax.set_subplotspec(spec)
        fig.set_size_inches(old_size, forward=False)
