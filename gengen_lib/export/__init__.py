"""Weights for the book's in-page explorers, which run the shipped models in JavaScript.

* ``format``: the document format every family shares (base64 arrays, ``.js`` or ``.json``);
* ``vae``, ``gan``, ``flow``, ``flow_matching``: one module per family: its document, export,
  read-back, and the book's exporter (``export_book_decoders``, ``export_book_generator``,
  ``export_book_flows``, ``export_book_flow_matching``);
* ``book``: :func:`export_book_explorers` runs them all (``python -m gengen_lib.export``).
"""

from .book import export_book_explorers

__all__ = ["export_book_explorers"]
