"""Accessibility fixes for what the theme and myst-nb write (WCAG 2.1 AA, checked by axe-core).

- ``a11y.js`` (copied to ``_static/offline/``, loaded on every page) fixes the theme's controls
  in the page: a search button whose ``aria-label`` leaves out part of its visible text, and
  the colour-mode button whose icons carry titles ("Light", "Dark") that are not in its name
  (axe's ``label-content-name-mismatch``, WCAG 2.5.3).
- myst-nb's folded cells write ``<summary aria-label="Toggle hidden content">`` around the
  visible "Show code cell source"; the label is dropped so the visible text is the name.

``tests/test_accessibility.py`` runs axe-core on every page, light and dark, wide and narrow.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

STATIC_SUBDIR = "offline"  # shared with offline_assets.py: _static/offline/ in the built site
JS_NAME = "a11y.js"
MYST_NB_SUMMARY = '<summary aria-label="Toggle hidden content">'


def _drop_summary_labels(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Let the folded cells' visible text name their toggles."""
    body = context.get("body")
    if isinstance(body, str) and MYST_NB_SUMMARY in body:
        context["body"] = body.replace(MYST_NB_SUMMARY, "<summary>")


def _copy_script(app: Sphinx, exception: Exception | None) -> None:
    """Put ``a11y.js`` into the built site."""
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / STATIC_SUBDIR
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(__file__).with_name(JS_NAME), dest / JS_NAME)


def setup(app: Sphinx) -> dict:
    """Register the page fix, the script and its copy step."""
    app.connect("html-page-context", _drop_summary_labels)
    app.connect("build-finished", _copy_script)
    app.add_js_file(f"{STATIC_SUBDIR}/{JS_NAME}", loading_method="defer")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
