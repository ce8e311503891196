"""A figure's fingerprint: a few lines of text that change when what the figure shows changes.

nbval compares the ``text/plain`` of every output but never its images. :func:`register` makes
the ``text/plain`` of each figure a notebook displays (or glues) its fingerprint instead of
``<Figure size 600x400 with 2 Axes>``; the book still shows the PNG, and a figure whose content
changes fails ``pytest --nbval`` with a diff that names the figure and the panel.

Why a digest of the plotted data rather than of the pixels: the pixels also depend on the
matplotlib and FreeType versions, the fonts and the DPI, none of which is the course's content;
the data, the colours, the scales and the labels are. Each number is read in the units a reader
sees (a fraction of the axes' extent, or of the colour scale) and only through aggregates (count,
mean, spread, two position-weighted means) rounded to ``RESOLUTION``, about one pixel of a
1000-pixel-wide figure: float noise of a different thread count stays below it, while a moved
curve, a reordered image grid or another colour does not.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from matplotlib.colors import to_hex

RESOLUTION = 1e-3
"""Rounding of every aggregate, as a fraction of the axes' extent or of the colour scale."""
MAX_PANELS_LISTED = 12
"""Panels listed one per line; the digest on the first line covers all of them."""


def _rounded(value: float) -> str:
    return "nan" if not math.isfinite(value) else str(round(value / RESOLUTION))


def summary(values) -> str:
    """Rounded aggregates of an array of numbers already in display units (e.g. axes fractions).

    For an (N, d) array each column is summarised; a flat array is one column. Non-finite entries
    (masked pixels, gaps in a line) are counted, then left out.
    """
    a = np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    a = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)
    parts = [f"n={a.shape[0]}x{a.shape[1]}"]
    for column in a.T:
        finite = column[np.isfinite(column)]
        parts.append(f"nonfinite={len(column) - len(finite)}")
        if len(finite) == 0:
            continue
        index = np.arange(len(column))[np.isfinite(column)]
        weights = [np.cos(index * k * 0.6180339887) for k in (1, 2)]  # position-weighted: catches reordering
        stats = [finite.mean(), finite.std(), *(float((w * finite).mean()) for w in weights)]
        parts.append(",".join(_rounded(s) for s in stats))
    return " ".join(parts)


def _in_axes_units(ax, transform, xy) -> np.ndarray:
    """(N, 2) points given in ``transform``'s coordinates, as fractions of ``ax``'s extent."""
    xy = np.ma.filled(np.ma.asarray(xy, dtype=np.float64), np.nan).reshape(-1, 2)
    if len(xy) == 0:
        return xy
    return (transform - ax.transAxes).transform(xy)


def _colours(colours) -> str:
    colours = np.atleast_2d(colours) if len(colours) else []
    unique = list(dict.fromkeys(to_hex(c, keep_alpha=True) for c in colours))
    return ",".join(unique[:8]) + (f"+{len(unique) - 8}" if len(unique) > 8 else "")


def _colour_values(artist, array) -> str:
    """An image's or a collection's values as positions on its colour scale (0 to 1), summarised."""
    norm = artist.norm
    if norm.vmin is None or norm.vmax is None:
        norm.autoscale_None(array)
    return summary(norm(np.ma.masked_invalid(np.ma.asarray(array, dtype=np.float64))).reshape(-1))


def leave_out_data(fig, reason: str) -> None:
    """Fingerprint only the form of ``fig`` (labels, scales, colours, how many of each artist), not its numbers.

    For a figure of measurements that differ from run to run, e.g. wall-clock times; ``reason`` is
    printed in the fingerprint so the reader of a diff knows why its numbers are not compared.
    """
    fig._fingerprint_leaves_out = reason


def describe_axes(ax, with_data: bool = True) -> list[str]:
    """One line per thing drawn on ``ax`` (labels, scales, lines, images, collections, patches, texts).

    ``with_data=False`` keeps the form and replaces every number that comes from the data by ``-``.
    """
    measure = summary if with_data else (lambda values: "-")
    colour_values = _colour_values if with_data else (lambda artist, array: "-")
    items = [
        f"titles {ax.get_title('left')!r} {ax.get_title()!r} {ax.get_title('right')!r}",
        f"labels {ax.get_xlabel()!r} {ax.get_ylabel()!r}",
        f"scales {ax.get_xscale()} {ax.get_yscale()} visible={ax.axison}",
    ]
    if with_data:
        items.append("limits " + " ".join(f"{v:.3g}" for v in (*ax.get_xlim(), *ax.get_ylim())))
    for line in ax.lines:
        style = f"{to_hex(line.get_color(), keep_alpha=True)} {line.get_linestyle()} {line.get_marker()}"
        points = _in_axes_units(ax, ax.transData, line.get_xydata())
        items.append(f"line {line.get_label()!r} {style} {measure(points)}")
    for image in ax.images:
        array = image.get_array()
        items.append(f"image {array.shape} {image.get_cmap().name} {colour_values(image, array)}")
    for coll in ax.collections:
        parts = [f"collection {type(coll).__name__} {coll.get_label()!r}", _colours(coll.get_facecolors()),
                 _colours(coll.get_edgecolors())]  # fmt: skip
        offsets = coll.get_offsets()
        if len(offsets) > 1 or (len(offsets) == 1 and np.any(np.asarray(offsets) != 0)):
            parts.append("offsets " + measure(_in_axes_units(ax, coll.get_offset_transform(), offsets)))
        if hasattr(coll, "get_coordinates"):  # a mesh: its grid, not one path per cell
            parts.append("grid " + measure(_in_axes_units(ax, coll.get_transform(), coll.get_coordinates())))
        else:
            paths = [p.vertices for p in coll.get_paths()]
            if paths and len(offsets) <= 1:
                parts.append("paths " + measure(_in_axes_units(ax, coll.get_transform(), np.concatenate(paths))))
        if coll.get_array() is not None:
            parts.append("values " + colour_values(coll, coll.get_array()))
        items.append(" ".join(parts))
    for patch in ax.patches:
        vertices = _in_axes_units(ax, patch.get_transform(), patch.get_path().vertices)
        items.append(f"patch {type(patch).__name__} {_colours([patch.get_facecolor()])} {measure(vertices)}")
    for text in ax.texts:
        items.append(f"text {text.get_text()!r} {to_hex(text.get_color())}")
    legend = ax.get_legend()
    if legend is not None:
        items.append("legend " + " | ".join(t.get_text() for t in legend.get_texts()))
    return items


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]


def _panel_name(ax, number: int) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel() or ax.get_xlabel()
    return f"panel {number}" + (f" {title[:60]!r}" if title else "")


def fingerprint(fig) -> str:
    """The text nbval compares for ``fig``: its title, size and digest, then one digest per panel."""
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    titles = [t for ax in fig.axes if (t := ax.get_title())]
    name = suptitle or " | ".join(titles) or "untitled"
    width, height = fig.get_size_inches()
    left_out = getattr(fig, "_fingerprint_leaves_out", None)
    panels = [(_panel_name(ax, i + 1), describe_axes(ax, with_data=not left_out)) for i, ax in enumerate(fig.axes)]
    whole = _digest([suptitle, f"{width:.2f}x{height:.2f}"] + [line for _, lines in panels for line in lines])
    count = f"{len(panels)} panel" + ("" if len(panels) == 1 else "s")
    head = f"figure {name[:100]!r} ({width:.1f} x {height:.1f} in, {count}): {whole}"
    if left_out:
        head += f" (its numbers are not compared: {left_out})"
    listed = [f"  {label}: {_digest(lines)}" for label, lines in panels[:MAX_PANELS_LISTED]]
    if len(panels) > MAX_PANELS_LISTED:
        listed.append(f"  ... {len(panels) - MAX_PANELS_LISTED} more panels (in the digest above)")
    return "\n".join([head, *listed])


def register() -> None:
    """Make every figure's ``text/plain`` its :func:`fingerprint` in the running IPython (no-op outside it).

    Call it after any ``%config InlineBackend.figure_format``: choosing a format resets every
    formatter of figures, this one included (so does the inline backend's first import, which
    this function therefore makes first).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    try:  # its first import sets the figure formatters of the shell, which would drop this one
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:
        pass
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["text/plain"].for_type(Figure, lambda fig, p, cycle: p.text(fingerprint(fig)))
