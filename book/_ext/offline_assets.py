"""Serve MathJax and the ipywidgets JavaScript from the built book itself, so it works offline.

By default the pages would load MathJax, require.js and @jupyter-widgets/html-manager from CDNs.
This extension copies local copies into ``_build/html/_static/offline/`` and points Sphinx
(``mathjax_path``) and myst-nb (``nb_ipywidgets_js``) at them:

- MathJax 3 from the PyPI package ``django-static-mathjax`` (import name ``mathjax``);
- html-manager and requirejs from ``.vendor/``, filled by ``scripts/vendor_js.sh``.

It also copies ``book/explorer/`` (the in-page explorers' scripts and styles, and the weights
written by ``python -m gengen_lib.export``) to ``_build/html/_static/explorer/``; only the
explorer pages (``book/explorer.md``, ``book/gan_explorer.md``, ``book/flow_explorer.md``) load
them, each with its own ``<script>`` tags.

The paths are relative to ``_static/``; Sphinx turns them into per-page relative URLs, so the
pages work from ``file://`` and from any web server, in subfolders too. Nothing is put in a
repo-root ``_static/`` (Jupyter Book would add every js/css file there to every page).
It also drops the duplicate inline scripts Sphinx 7.4 writes (see ``_drop_duplicate_scripts``).
"""

from __future__ import annotations

import importlib.resources
import re
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util import logging

logger = logging.getLogger(__name__)

VENDOR_DIR = ".vendor"  # relative to the book root (the repository root)
STATIC_SUBDIR = "offline"  # under _static/ in the built site
MATHJAX_ENTRY = "tex-mml-chtml.js"  # the bundle Sphinx loads by default, from the CDN
REQUIRED = ("html-manager/dist/embed-amd.js", "requirejs/require.js")
# The in-page explorers (book/*explorer.md): scripts, styles and exported weights (gengen_lib/export/),
# copied to _static/explorer/ and loaded by those pages' own <script> tags.
EXPLORER_DIR = "book/explorer"
EXPLORER_REF = re.compile(r"_static/explorer/([\w.-]+\.js)")  # a file an explorer page loads
CSS_NAME = "gengen.css"  # page styles (figure aspect ratio, dark mode), beside this file

# Runs after require.js and before embed-amd.js. It finds the vendor folder from its own URL
# and tells RequireJS and html-manager to look there, never on a CDN.
WIDGETS_CONFIG_JS = r"""/* Written by book/_ext/offline_assets.py: ipywidgets JavaScript comes from this site. */
(function () {
  var me = document.currentScript;
  var base = me.src.replace(/[^/]*$/, "");
  // Fonts and other assets of the html-manager bundle.
  window.__jupyter_widgets_assets_path__ = base + "html-manager/dist/";
  // Widget modules that are not bundled would be fetched from here, not from jsDelivr.
  me.setAttribute("data-jupyter-widgets-cdn", base + "npm/");
  window.require.config({paths: {"@jupyter-widgets/html-manager": base + "html-manager"}});
  // @jupyter-widgets/base typesets labels with MathJax 2's MathJax.Hub.Queue, which throws
  // under MathJax 3; and MathJax 3 skips $...$ unless told. Deferred scripts (MathJax) have
  // run by DOMContentLoaded; widgets render at window load, later.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (mj && mj.startup && !mj.Hub) {
      mj.Hub = {Queue: function (job) {
        var el = job[2];
        el.textContent = el.textContent.replace(/\$([^$]+)\$/g, "\\($1\\)");
        mj.startup.promise.then(function () { return mj.typesetPromise([el]); });
      }};
    }
  });
})();
"""


def mathjax_root() -> Path:
    """Folder of MathJax's browser bundles (``es5``) in the installed ``mathjax`` package."""
    return Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax" / "es5"


def _check_sources(vendor: Path) -> None:
    """Fail early, with the fix in the message, when a local copy is missing."""
    missing = [str(vendor / rel) for rel in REQUIRED if not (vendor / rel).is_file()]
    if missing:
        raise ConfigError(f"offline_assets: missing {', '.join(missing)}; run scripts/vendor_js.sh first")
    try:
        entry = mathjax_root() / MATHJAX_ENTRY
    except ModuleNotFoundError:
        entry = None
    if entry is None or not entry.is_file():
        raise ConfigError("offline_assets: MathJax not found; pip install django-static-mathjax (see requirements.txt)")


def _configure(app: Sphinx, config: Config) -> None:
    """Point MathJax and the ipywidgets scripts at the local copies."""
    _check_sources(Path(app.srcdir) / VENDOR_DIR)
    config.mathjax_path = f"{STATIC_SUBDIR}/mathjax/{MATHJAX_ENTRY}"
    # Order matters: the loader, then its configuration, then the widget manager.
    config.nb_ipywidgets_js = {
        f"{STATIC_SUBDIR}/requirejs/require.js": {},
        f"{STATIC_SUBDIR}/widgets-config.js": {},
        f"{STATIC_SUBDIR}/html-manager/dist/embed-amd.js": {},
    }


def _copy_assets(app: Sphinx, exception: Exception | None) -> None:
    """Copy MathJax and the vendored JavaScript into ``_static/offline/`` of the built site."""
    if exception is not None or app.builder.format != "html":
        return
    vendor = Path(app.srcdir) / VENDOR_DIR
    dest = Path(app.outdir) / "_static" / STATIC_SUBDIR
    copies = {
        "mathjax": mathjax_root(),
        "mathjax/LICENSE": mathjax_root().parent / "LICENSE",
        "html-manager/dist": vendor / "html-manager" / "dist",
        "html-manager/LICENSE": vendor / "html-manager" / "LICENSE",
        "requirejs/require.js": vendor / "requirejs" / "require.js",
    }
    for rel, src in copies.items():
        target = dest / rel
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("*.map"), dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    (dest / "widgets-config.js").write_text(WIDGETS_CONFIG_JS, encoding="utf-8")
    shutil.copy2(Path(__file__).with_name(CSS_NAME), dest / CSS_NAME)
    explorer = Path(app.srcdir) / EXPLORER_DIR
    if explorer.is_dir():
        shutil.copytree(explorer, Path(app.outdir) / "_static" / "explorer", dirs_exist_ok=True)
    logger.info(f"offline_assets: MathJax and ipywidgets JavaScript copied to {dest}")


def _check_explorer_files(app: Sphinx) -> None:
    """Fail early, with the fix in the message, when a file an explorer page loads is missing
    (the weights are built from weights/, not committed)."""
    book = Path(app.srcdir) / "book"
    wanted = {name for page in book.glob("*explorer.md") for name in EXPLORER_REF.findall(page.read_text("utf-8"))}
    missing = sorted(name for name in wanted if not (book / "explorer" / name).is_file())
    if missing:
        names = ", ".join(missing)
        raise ConfigError(f"offline_assets: {names} missing in {EXPLORER_DIR}/; fix: python -m gengen_lib.export")


def _drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Keep one copy of each script tag.

    Sphinx 7.4 lists an inline script added after the builder starts twice (once with filename
    None, once with ''), so sphinx-thebe's ``const THEBE_JS_URL`` is declared twice and every
    page logs a SyntaxError.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    """Register the configuration, page and copy steps with Sphinx."""
    app.connect("config-inited", _configure)
    app.connect("builder-inited", _check_explorer_files)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("build-finished", _copy_assets)
    app.add_css_file(f"{STATIC_SUBDIR}/{CSS_NAME}")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
