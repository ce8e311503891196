"""Figures in the book show their own descriptions as ``alt`` text.

``gengen_lib.alt_text`` stores each figure's description in the notebook output's metadata
(``metadata["image/png"]["alt"]``). myst-nb 1.4 reads only ``width`` and ``height`` from that
metadata, so this extension wraps its image renderer to copy ``alt`` too. An ``:alt:``
given in the page (a ``{glue:figure}`` option, or the cell's ``mystnb.image`` metadata) wins.
"""

from __future__ import annotations

from myst_nb.core.render import NbElementRenderer
from sphinx.application import Sphinx

ALT = "alt"


def _render_image_with_alt(render_image):
    """Wrap ``NbElementRenderer.render_image`` so the output's ``alt`` metadata reaches the image node."""

    def render(self, data):
        image_nodes = render_image(self, data)
        alt = (data.output_metadata or {}).get(data.mime_type, {}).get(ALT)
        for node in image_nodes:
            if alt and not node.get(ALT):
                node[ALT] = str(alt)
        return image_nodes

    render.gengen_alt = True
    return render


def setup(app: Sphinx) -> dict:
    """Install the wrapped renderer (once per process)."""
    if not getattr(NbElementRenderer.render_image, "gengen_alt", False):
        NbElementRenderer.render_image = _render_image_with_alt(NbElementRenderer.render_image)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
