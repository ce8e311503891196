"""Figures in the book show their own descriptions as ``alt`` text, and a phone layout on phones.

``gengen_lib.alt_text`` stores each figure's description in the notebook output's metadata
(``metadata["image/png"]["alt"]``). myst-nb 1.4 reads only ``width`` and ``height`` from that
metadata, so this extension wraps its image renderer to copy ``alt`` too. An ``:alt:``
given in the page (a ``{glue:figure}`` option, or the cell's ``mystnb.image`` metadata) wins.

A figure whose text would be too small on a phone also carries a second PNG in its phone layout
(``metadata["image/png"]["gengen_phone"]``, see ``gengen_lib.legibility``). The page then gets
two images, ``gengen-wide`` and ``gengen-phone``, both loaded lazily; ``gengen.css`` hides the one
that does not fit the screen, so a browser fetches one of them and a screen reader reads one.
"""

from __future__ import annotations

import dataclasses

from myst_nb.core.render import NbElementRenderer
from sphinx.application import Sphinx

ALT = "alt"
PHONE = "gengen_phone"


def _render_image_with_alt(render_image):
    """Wrap ``NbElementRenderer.render_image``: ``alt`` from the metadata, and the phone layout beside."""

    def with_alt(nodes_, alt):
        for node in nodes_:
            if alt and not node.get(ALT):
                node[ALT] = str(alt)
        return nodes_

    def render(self, data):
        metadata = (data.output_metadata or {}).get(data.mime_type, {})
        wide = with_alt(render_image(self, data), metadata.get(ALT))
        phone = metadata.get(PHONE)
        if not phone:
            return wide
        size = {key: phone[key] for key in ("width", "height") if key in phone}
        phone_data = dataclasses.replace(data, content=phone["data"], output_metadata={data.mime_type: size})
        narrow = with_alt(render_image(self, phone_data), wide[0].get(ALT) if wide else metadata.get(ALT))
        for nodes_, layout in ((wide, "gengen-wide"), (narrow, "gengen-phone")):
            for node in nodes_:
                node["classes"] = [*node.get("classes", []), layout]
                node["loading"] = "lazy"
        return wide + narrow

    render.gengen_alt = True
    return render


def setup(app: Sphinx) -> dict:
    """Install the wrapped renderer (once per process)."""
    if not getattr(NbElementRenderer.render_image, "gengen_alt", False):
        NbElementRenderer.render_image = _render_image_with_alt(NbElementRenderer.render_image)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
