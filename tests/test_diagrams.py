"""Specification of the book's drawn diagrams (book/diagrams/draw.py and the SVGs it writes)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "book" / "diagrams"
SPEC = importlib.util.spec_from_file_location("draw", FOLDER / "draw.py")
draw = importlib.util.module_from_spec(SPEC)
sys.modules["draw"] = draw  # dataclasses look their module up there
SPEC.loader.exec_module(draw)
NAMES = [make().name for make in draw.DIAGRAMS]
PHONE_COLUMN_PX = 358  # the book's column on a 390 px screen


def test_there_are_the_five_diagrams_the_chapters_teach_with():
    assert {"vae", "gan", "coupling", "dequantization", "bits_per_dim"} <= set(NAMES)


def test_the_committed_svgs_are_what_the_script_draws(tmp_path):
    for name, text in draw.draw_all(tmp_path).items():
        committed = FOLDER / name
        assert committed.is_file(), f"{name} is missing: run python book/diagrams/draw.py"
        assert committed.read_text(encoding="utf-8") == text, f"{name} differs: run python book/diagrams/draw.py"


@pytest.mark.parametrize("name", NAMES)
def test_a_diagram_is_described_sized_for_a_phone_and_shown_in_its_section(name):
    svg = (FOLDER / f"{name}.svg").read_text(encoding="utf-8")
    assert re.search(r"<title id=[^>]+>[^<]{10,}</title>", svg) and re.search(r"<desc id=[^>]+>[^<]{80,}</desc>", svg)
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) * PHONE_COLUMN_PX / width >= 11, "text of at least 11 px on a 390 px phone"
    sources = [p.read_text(encoding="utf-8") for p in [*ROOT.glob("notebooks/*.py"), *ROOT.glob("book/*.md")]]
    uses = [s for s in sources if f"diagrams/{name}.svg" in s]
    assert len(uses) == 1, f"{name}.svg should be shown in exactly one section, found {len(uses)}"
    figure = re.search(rf"```{{figure}} [./]*book/diagrams/{name}\.svg\n(?:# )?:name: [^\n]+\n(?:# )?:alt: (.{{40,}})",
                       "".join(uses))  # fmt: skip
    assert figure, "the figure gives its own alt text"


def test_a_box_too_narrow_for_its_text_is_refused_with_the_fix():
    diagram = draw.Diagram("t", "title", "description")
    with pytest.raises(ValueError, match="fix: a wider box"):
        diagram.box(0, 0, 40, ["a label far too long for forty pixels"])
