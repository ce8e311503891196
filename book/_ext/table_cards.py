"""Tables that read at every width: on a phone each row becomes a card.

On a wide page the columns share the width in proportion to what they hold (a column of
short names stays narrow, one with a long formula gets room for it), written as the table's
column widths, so the layout is fixed and no column is squeezed below its longest word.

On a phone a table of three or more columns gets the class ``gengen-cards`` and each body cell starts
with a ``gengen-cell-label`` span holding its column's header text. ``gengen.css`` hides
the labels on a wide page; below 640 px it shows each row as a block, each cell under its
label, so no column is squeezed to one letter per line. A two-column table (a name and its
value) gets ``gengen-pairs``: on a phone the name is a bold line above its value.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx

CARDS, PAIRS, LABEL = "gengen-cards", "gengen-pairs", "gengen-cell-label"
# Column widths are planned in characters of body text for a column of COLUMN_CHARS
# characters (the wide page's 688 px at about 8.5 px a character). A rendered formula is
# about MATH_WIDTH characters wide per character of its TeX source.
COLUMN_CHARS, MATH_WIDTH, PADDING = 80, 0.5, 2


def _pieces(entry: nodes.Element) -> list[float]:
    """Widths, in characters, of the pieces a cell cannot break: words and formulas."""
    widths = [MATH_WIDTH * len(m.astext()) for m in entry.findall(nodes.math)]
    text = " ".join(t.astext() for t in entry.findall(nodes.Text) if not isinstance(t.parent, nodes.math))
    return widths + [float(len(word)) for word in text.split()]


def column_weights(rows: list[list[nodes.Element]], cols: int) -> list[int]:
    """A relative width per column: its longest unbreakable piece, plus a share of the room left.

    Each column first gets its longest word or formula (so nothing is cut); what is left of
    COLUMN_CHARS goes to the columns in proportion to how much longer their mean cell is.
    """
    floors, demand = [], []
    for j in range(cols):
        cells = [row[j] for row in rows if len(row) > j]
        floor = PADDING + max((max(_pieces(c), default=0.0) for c in cells), default=0.0)
        mean = sum(len(c.astext()) for c in cells) / max(len(cells), 1)
        floors.append(floor)
        demand.append(max(mean - floor, 0.0))
    room = max(COLUMN_CHARS - sum(floors), 0.0)
    shares = [room * d / sum(demand) if sum(demand) else 0.0 for d in demand]
    return [max(1, round(f + s)) for f, s in zip(floors, shares, strict=True)]


def _header_texts(tgroup: nodes.tgroup) -> list[str]:
    """The text of each header cell of the table's first header row ([] when it has none)."""
    for thead in tgroup.findall(nodes.thead):
        for row in thead.findall(nodes.row):
            return [entry.astext().strip() for entry in row.findall(nodes.entry)]
    return []


def label_cells(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Mark every table as cards or pairs and give the body cells of cards their column labels."""
    for table in doctree.findall(nodes.table):
        for tgroup in table.findall(nodes.tgroup):
            headers = _header_texts(tgroup)
            rows = [list(row.findall(nodes.entry)) for tbody in tgroup.findall(nodes.tbody)
                    for row in tbody.findall(nodes.row)]  # fmt: skip
            colspecs = list(tgroup.findall(nodes.colspec))
            for colspec, weight in zip(colspecs, column_weights(rows, len(colspecs)), strict=True):
                colspec["colwidth"] = weight
            table["classes"] = [c for c in table["classes"] if c != "colwidths-auto"] + ["colwidths-given"]
            if int(tgroup.get("cols", 0)) == 2:
                table["classes"].append(PAIRS)
                continue
            if not headers:
                continue
            table["classes"].append(CARDS)
            for tbody in tgroup.findall(nodes.tbody):
                for row in tbody.findall(nodes.row):
                    for entry, header in zip(row.findall(nodes.entry), headers, strict=False):
                        label = nodes.inline(header, header, classes=[LABEL])
                        target = entry[0] if len(entry) and isinstance(entry[0], nodes.paragraph) else entry
                        target.insert(0, label)


def setup(app: Sphinx) -> dict:
    """Label the table cells once each page's references are resolved."""
    app.connect("doctree-resolved", label_cells)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
