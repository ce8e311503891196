"""Specification of figure descriptions, figure text sizes and phone layouts: what reaches the page's <img>."""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from docutils import nodes  # noqa: E402
from myst_nb.core.render import MimeData  # noqa: E402

from gengen_lib import alt_text, figures, legibility, plots, vae  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import figure_alt  # noqa: E402

COLUMN_PX = 688  # the book's column on a 1280 px screen
SMALLEST_PX = 11  # the smallest text a reader should have to read there


@pytest.fixture(autouse=True)
def _style():
    with plt.rc_context(plots.STYLE):
        yield
    plt.close("all")


def shown_text_px(fig, column_px: int = COLUMN_PX) -> float:
    """CSS pixels of the figure's smallest text when the page shows it (never wider than its natural size)."""
    natural_px = fig.get_figwidth() * fig.dpi
    return legibility.smallest_text(fig) * min(column_px, natural_px)


def test_a_description_is_attached_and_refused_when_empty():
    fig, _ = plt.subplots()
    assert alt_text.describe(fig, "A line.\n  It rises.") is fig
    assert alt_text.description(fig) == "A line. It rises."
    with pytest.raises(ValueError, match="fix: describe"):
        alt_text.describe(fig, "  ")


def test_smallest_text_is_font_size_over_figure_width():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("big", fontsize=20)
    ax.text(0.5, 0.5, "small", fontsize=9)
    assert legibility.smallest_text(fig) == pytest.approx(9 / (5 * 72))


def test_a_displayed_figure_carries_its_description_and_text_size_in_the_output_metadata():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})
    assert alt_text.install(shell) and alt_text.install(shell), "installing twice is harmless"
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 2])
    alt_text.describe(fig, "A straight line from (0, 0) to (1, 2).")
    data, metadata = shell.display_formatter.format(fig)
    assert "image/png" in data
    assert metadata["image/png"]["alt"] == "A straight line from (0, 0) to (1, 2)."
    assert metadata["image/png"]["gengen_smallest_text"] == pytest.approx(legibility.smallest_text(fig), rel=1e-4)
    assert "gengen_phone" not in metadata["image/png"], "4 inches wide, its 9-pt text stays legible on a phone"
    select_figure_formats(shell, {"png"})  # what the inline backend does again when it loads
    shell.events.trigger("pre_run_cell", None)
    assert shell.display_formatter.format(fig)[1]["image/png"]["alt"], "the next cell's figures are described again"


def test_the_book_writes_the_output_alt_metadata_into_the_image_and_keeps_an_alt_given_in_the_page():
    render = figure_alt._render_image_with_alt(lambda self, data: [nodes.image(uri="x.png", **data.given)])
    data = SimpleNamespace(mime_type="image/png", output_metadata={"image/png": {"alt": "A rising line."}}, given={})
    assert render(None, data)[0]["alt"] == "A rising line."
    data.given = {"alt": "said in the page"}
    assert render(None, data)[0]["alt"] == "said in the page"
    data.output_metadata = {}
    data.given = {}
    assert "alt" not in render(None, data)[0]


@pytest.mark.parametrize(
    "draw",
    [
        lambda: figures.generator_losses(),
        lambda: figures.kl_heatmap(vae.kl_standard_normal, n=21)[0],
        lambda: figures.determinant_timings([8, 16])[0],
        lambda: figures.naive_vs_importance([1, 10], {1: -torch.rand(3, 4) - 100, 10: -torch.rand(3, 4) - 95},
                                            -torch.rand(4) - 90, k=50),  # fmt: skip
        lambda: plots.show_grids({"start": torch.rand(16, 784), "end": torch.rand(16, 784)}, nrow=4,
                                 finding="The end images are digits."),  # fmt: skip
        lambda: figures.class_histograms({"GAN": [100] * 10, "a flow": [91] * 9 + [181]}),
    ],
    ids=["generator_losses", "kl_heatmap", "determinant_timings", "naive_vs_importance", "show_grids",
         "class_histograms"],  # fmt: skip
)
def test_course_figures_describe_themselves_in_numbers_and_fit_the_column_with_legible_text(draw):
    fig = draw()
    text = alt_text.description(fig)
    assert text and any(ch.isdigit() for ch in text), f"the description should give numbers: {text!r}"
    assert fig.get_figwidth() <= plots.COLUMN_INCHES + 1e-9, "drawn for the column: never shrunk on a wide screen"
    assert shown_text_px(fig) >= SMALLEST_PX, f"smallest text {shown_text_px(fig):.1f} px at 1280 px"


def curves(panels: int, width: float = plots.COLUMN_INCHES):
    """A row of ``panels`` labelled line plots, ``width`` inches wide."""
    fig, axes = plt.subplots(1, panels, figsize=(width, 2.4), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.plot([0, 1], [0, i])
        ax.set_xlabel("epoch")
    return fig


@pytest.mark.parametrize(("panels", "columns"), [(1, 1), (2, 1), (3, 1), (4, 2), (6, 3)])
def test_a_phone_layout_restacks_side_by_side_panels_so_that_no_panel_gets_narrower(panels, columns):
    fig = curves(panels)
    assert shown_text_px(fig, legibility.PHONE_COLUMN_PX) < SMALLEST_PX, "the wide figure is too small on a phone"
    with legibility.restacked(fig):
        assert fig.get_figwidth() == pytest.approx(legibility.PHONE_INCHES)
        places = [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in fig.axes]
        assert max(col for _, col in places) + 1 == columns
        assert places == sorted(places), "panels keep their reading order"
        assert shown_text_px(fig, legibility.PHONE_COLUMN_PX) >= SMALLEST_PX
    assert fig.get_figwidth() == pytest.approx(plots.COLUMN_INCHES), "the figure is put back"
    assert [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in fig.axes] == [
        (0, i) for i in range(panels)
    ]


def test_a_panel_that_spans_every_column_keeps_a_row_of_its_own():
    fig = plt.figure(figsize=(plots.COLUMN_INCHES, 4), layout="constrained")
    grid = fig.add_gridspec(2, 4)
    small = [fig.add_subplot(grid[0, i]) for i in range(4)]
    wide = fig.add_subplot(grid[1, :])
    with legibility.restacked(fig):
        assert [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in small] == [
            (0, 0), (0, 1), (1, 0), (1, 1)
        ]  # fmt: skip
        spec = wide.get_subplotspec()
        assert (spec.rowspan.start, len(spec.colspan)) == (2, 2)


def test_only_a_figure_whose_text_would_shrink_below_11_px_on_a_phone_gets_a_phone_image():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})
    alt_text.install(shell)
    wide, narrow = curves(3), curves(1, width=3.4)
    phone = shell.display_formatter.format(wide)[1]["image/png"]["gengen_phone"]
    assert phone["data"] != shell.display_formatter.format(wide)[0]["image/png"]
    assert phone["gengen_smallest_text"] * legibility.PHONE_COLUMN_PX >= SMALLEST_PX
    assert "gengen_phone" not in shell.display_formatter.format(narrow)[1]["image/png"]


def test_the_book_shows_the_phone_image_beside_the_wide_one_and_the_stylesheet_picks_one_per_screen():
    render = figure_alt._render_image_with_alt(lambda self, data: [nodes.image(uri=data.content)])
    metadata = {"image/png": {"alt": "Three curves.", "gengen_phone": {"data": "phone.png", "width": 358}}}
    data = MimeData("image/png", "wide.png", output_metadata=metadata)
    wide, phone = render(None, data)
    assert (wide["uri"], phone["uri"]) == ("wide.png", "phone.png")
    assert wide["alt"] == phone["alt"] == "Three curves."
    assert (wide["classes"], phone["classes"]) == (["gengen-wide"], ["gengen-phone"])
    assert wide["loading"] == phone["loading"] == "lazy", "a screen fetches only the image it shows"
    css = (Path(figure_alt.__file__).parent / "gengen.css").read_text()
    assert f"(max-width: {legibility.PHONE_BREAKPOINT_PX - 0.02}px)" in css
    assert f"(min-width: {legibility.PHONE_BREAKPOINT_PX}px)" in css


def test_a_long_title_and_a_wide_legend_are_wrapped_to_the_phone_width_and_put_back_after():
    fig = curves(2)
    title = "a title far too long to stand on one line of a phone's column, with $[0.05, 0.95]^2$ in it"
    fig.axes[0].set_title(title)
    fig.axes[0].plot([0, 1], [1, 0], label="a first curve with a long name")
    fig.axes[0].plot([0, 1], [1, 1], label="a second curve with a long name")
    fig.legend(loc="outside lower center", ncols=2)
    with legibility.restacked(fig):
        fig.draw_without_rendering()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer()).width  # what bbox_inches="tight" keeps, in inches
        assert drawn <= legibility.PHONE_INCHES * 1.01, f"{drawn:.2f} in"
        assert "\n" in fig.axes[0].get_title() and "$[0.05, 0.95]^2$" in fig.axes[0].get_title(), "math stays whole"
    assert fig.axes[0].get_title() == title


def test_a_plot_is_drawn_as_svg_and_an_image_or_a_heat_map_as_png_each_once():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png", "svg"})
    alt_text.install(shell)
    plot = curves(1, width=4)
    image, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(torch.rand(8, 8))
    dense = curves(1, width=4)
    dense.axes[0].plot(range(alt_text.VECTOR_POINTS + 1))
    assert alt_text.draws_as_vector(plot) and not alt_text.draws_as_vector(image)
    assert not alt_text.draws_as_vector(dense), "thousands of points are lighter as pixels"
    for fig, kept, dropped in [(plot, "image/svg+xml", "image/png"), (image, "image/png", "image/svg+xml")]:
        data, metadata = shell.display_formatter.format(fig)
        assert kept in data and dropped not in data
        assert metadata[kept]["gengen_smallest_text"] > 0
    svg = shell.display_formatter.format(plot)[0]["image/svg+xml"]
    width_px = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1)) * 96 / 72
    text_px = shell.display_formatter.format(plot)[1]["image/svg+xml"]["gengen_smallest_text"] * width_px
    assert text_px == pytest.approx(plots.STYLE["xtick.labelsize"] * 96 / 72, rel=1e-3), "9 pt at 96 px per inch"
    size = shell.display_formatter.format(plot)[1]["image/svg+xml"]
    assert size["width"] == pytest.approx(width_px, abs=0.01), "the page reserves the plot's box before it loads"
    select_figure_formats(shell, {"png"})
    shell.events.trigger("pre_run_cell", None)
    assert "image/png" in shell.display_formatter.format(plot)[0], "with one format, every figure uses it"


def test_a_panel_title_wider_than_its_panel_is_wrapped_so_that_it_does_not_run_into_the_next():
    fig, axes = plt.subplots(1, 4, figsize=(plots.COLUMN_INCHES, 2), layout="constrained")
    for ax in axes:
        ax.imshow(torch.rand(2, 4))
        ax.set_title("scaled to [-1, 1], shown (x+1)/2")
    with legibility.restacked(fig):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        column = fig.get_figwidth() * fig.dpi / 2  # the four panels stand two by two
        for ax in axes:
            assert ax.title.get_window_extent(renderer).width <= column
            assert "\n" in ax.title.get_text()


def test_restacked_images_keep_their_width_and_a_shared_axis_gets_its_labels_back():
    fig, axes = plt.subplots(3, 1, figsize=(plots.COLUMN_INCHES, 3.3), layout="constrained")
    for ax in axes:
        ax.imshow(torch.rand(1, 10), aspect="equal")  # a strip of ten digits
        ax.set_title("seeds 1 -> 2: linear")
    with legibility.restacked(fig):
        fig.draw_without_rendering()
        widths = [ax.bbox.width / fig.dpi for ax in axes]
        assert min(widths) >= 0.8 * legibility.PHONE_INCHES, f"strips {widths} of {legibility.PHONE_INCHES} in"
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(plots.COLUMN_INCHES, 2.4), layout="constrained")
    with legibility.restacked(fig):
        assert right.yaxis.get_tick_params()["labelleft"], "stacked under the first, the second shows its y values"
    assert not right.yaxis.get_tick_params()["labelleft"]


def test_a_legend_of_short_labels_too_wide_for_a_phone_gets_fewer_columns_and_them_back_after():
    fig, ax = plt.subplots(figsize=(plots.COLUMN_INCHES, 3), layout="constrained")
    for name in ("VAE", "GAN", "RealNVP", "flow matching (packed)"):
        ax.bar([0, 1], [1, 2], label=name)
    legend = fig.legend(loc="outside lower center", ncols=4)
    with legibility.restacked(fig):
        fig.draw_without_rendering()
        assert 1 < legend._ncols < 4
        renderer = fig.canvas.get_renderer()
        box, page = legend.get_window_extent(renderer), fig.bbox
        assert box.x0 >= page.x0 and box.y0 >= page.y0 and box.x1 <= page.x1, "placed where it was, below the axes"
        assert [t.get_text() for t in legend.get_texts()][:3] == ["VAE", "GAN", "RealNVP"]
        assert fig.get_tightbbox(fig.canvas.get_renderer()).width <= legibility.PHONE_INCHES * 1.01
    assert legend._ncols == 4 and [t.get_text() for t in legend.get_texts()][-1] == "flow matching (packed)"


def test_a_png_cropped_narrower_than_its_figure_has_its_text_measured_against_the_crop():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"retina"})
    alt_text.install(shell)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(torch.rand(2, 10))  # a strip: the tight crop keeps a fraction of the figure's height only
    ax.set_title("a title", fontsize=10)
    ax.set_axis_off()
    data, metadata = shell.display_formatter.format(fig)
    shown = metadata["image/png"]["width"]
    assert shown < 400
    assert metadata["image/png"]["gengen_smallest_text"] * shown == pytest.approx(10 * 100 / 72, rel=1e-3)
