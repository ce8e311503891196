"""Draw the book's diagrams as SVG files beside this script: ``python book/diagrams/draw.py``.

The SVG files are committed (the book shows them with a MyST ``{figure}`` and its ``:alt:``);
``tests/test_diagrams.py`` fails when one differs from what this script draws, so edit the
script and run it again rather than editing an SVG.

One style for all of them: 480 px wide (at most the book's column on a 1280 px screen, where
they show at natural size, and shrunk to 358 px on a 390 px phone), text of at least
TEXT_PX px (about 11 px on that phone), and one colour per kind of thing: data (blue),
networks (orange), randomness (green), losses and log-densities (red), operations (grey).
Boxes are light with dark text (contrast above 7:1), on a white background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 480
TEXT_PX = 15
LINE_PX = 20  # line height inside a box
CHAR_PX = 8.2  # mean advance of a character at TEXT_PX in the sans-serif fonts browsers pick
INK = "#1a1a1a"
FONTS = "DejaVu Sans, Helvetica, Arial, sans-serif"
KINDS = {  # fill, stroke
    "data": ("#e3eefb", "#2b6cb0"),
    "net": ("#fdebd3", "#c05621"),
    "noise": ("#e2f5e6", "#2f855a"),
    "loss": ("#fde2e2", "#c53030"),
    "op": ("#f1f1f1", "#555555"),
}


@dataclass
class Diagram:
    """An SVG drawing of boxes, arrows and notes, with a title and a description for screen readers."""

    name: str
    title: str
    description: str
    parts: list[str] = field(default_factory=list)
    bottom: float = 0.0  # the lowest point drawn so far; the drawing ends 10 px below it

    def box(self, x: float, y: float, w: float, lines: list[str], kind: str = "op", bold: bool = False) -> tuple:
        """A rounded box at (x, y), ``w`` wide, one text line per entry; returns (x, y, w, h)."""
        longest = max(len(line) for line in lines) * CHAR_PX + 16
        if longest > w:
            raise ValueError(f"{self.name}: {lines!r} needs {longest:.0f} px, the box is {w}; fix: a wider box")
        h = LINE_PX * len(lines) + 14
        self.bottom = max(self.bottom, y + h)
        fill, stroke = KINDS[kind]
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="{fill}" '
                          f'stroke="{stroke}" stroke-width="1.6"/>')  # fmt: skip
        weight = ' font-weight="600"' if bold else ""
        for i, line in enumerate(lines):
            ty = y + 7 + LINE_PX * (i + 0.5) + 5
            self.parts.append(f'<text x="{x + w / 2}" y="{ty}" text-anchor="middle"{weight}>{escape(line)}</text>')
        return (x, y, w, h)

    def note(self, x: float, y: float, text: str, anchor: str = "start", color: str = INK) -> None:
        """A line of text with no box."""
        if x + (len(text) * CHAR_PX if anchor == "start" else 0) > WIDTH + 1:
            raise ValueError(f"{self.name}: note {text!r} runs past the right edge; fix: move it or shorten it")
        self.parts.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{color}">{escape(text)}</text>')

    def down(self, upper: tuple, lower: tuple, at: float | None = None) -> None:
        """An arrow from the bottom of box ``upper`` to the top of box ``lower``: centre to centre, or
        straight down at x = ``at``."""
        start, end = (mid(upper), mid(lower)) if at is None else (at, at)
        self.arrow((start, below(upper)), (end, lower[1]))

    def arrow(self, *points: tuple[float, float], dashed: bool = False) -> None:
        """A line through ``points`` with an arrow head at the last one."""
        path = " ".join(f"{x},{y}" for x, y in points)
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="1.6"{dash} '
                          f'marker-end="url(#head-{self.name})"/>')  # fmt: skip

    def svg(self) -> str:
        """The finished SVG document."""
        height = round(self.bottom + 10)
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
                f'height="{height}" role="img" aria-labelledby="title-{self.name} desc-{self.name}" '
                f'font-family="{FONTS}" font-size="{TEXT_PX}" fill="{INK}">')  # fmt: skip
        defs = (f'<defs><marker id="head-{self.name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/>'
                "</marker></defs>")  # fmt: skip
        body = [
            head,
            f'<title id="title-{self.name}">{escape(self.title)}</title>',
            f'<desc id="desc-{self.name}">{escape(self.description)}</desc>',
            defs,
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
            *self.parts,
            "</svg>",
        ]
        return "\n".join(body) + "\n"


def below(b: tuple, gap: float = 0) -> float:
    """The y just under box ``b``, plus ``gap``."""
    return b[1] + b[3] + gap


def mid(b: tuple) -> float:
    """The x of box ``b``'s centre."""
    return b[0] + b[2] / 2


def vae() -> Diagram:
    d = Diagram("vae", "A variational autoencoder", (
        "An image x goes into the encoder, which outputs a mean mu and a standard deviation sigma for each of the "
        "20 latent coordinates. The sampler draws epsilon from a standard normal and forms z = mu + sigma times "
        "epsilon, so gradients flow through mu and sigma. The decoder turns z into 784 Bernoulli means. The loss "
        "is the negative ELBO: the reconstruction cost -log p(x | z) plus KL(q(z | x) || N(0, I))."))
    x = d.box(100, 10, 280, ["image x (784 pixels, 0 or 1)"], "data")
    enc = d.box(90, below(x, 34), 300, ["encoder q(z | x)", "784 → 500 → 2 × 20"], "net")
    d.down(x, enc)
    mu = d.box(90, below(enc, 34), 130, ["mean μ"], "data")
    sd = d.box(260, below(enc, 34), 130, ["std σ"], "data")
    d.down(enc, mu, at=mid(mu))
    d.down(enc, sd, at=mid(sd))
    smp = d.box(90, below(mu, 34), 300, ["sampler: z = μ + σ ⊙ ε"], "op")
    d.down(mu, smp, at=mid(mu))
    d.down(sd, smp, at=mid(sd))
    eps = d.box(400, smp[1] - 4, 76, ["ε ~", "N(0, I)"], "noise")
    d.arrow((eps[0], smp[1] + smp[3] / 2), (smp[0] + smp[2], smp[1] + smp[3] / 2))
    dec = d.box(90, below(smp, 34), 300, ["decoder f(z)", "20 → 500 → 784"], "net")
    d.down(smp, dec)
    out = d.box(90, below(dec, 34), 300, ["Bernoulli means f(z), 784"], "data")
    d.down(dec, out)
    d.box(10, below(out, 20), 460, ["loss (−ELBO) = −log p(x | z)", "+ KL( q(z | x) ‖ N(0, I) )"], "loss", bold=True)
    return d


def gan() -> Diagram:
    d = Diagram("gan", "A generative adversarial network: two players", (
        "Left: noise z from a standard normal goes through the generator G to a fake image G(z). Right: a real "
        "image x comes from the training set. Both go to the discriminator D, which outputs the probability that "
        "its input is real. D is trained to tell them apart, maximising log D(x) + log(1 - D(G(z))); G is trained "
        "to fool it, minimising -log D(G(z)), the non-saturating loss."))
    z = d.box(10, 10, 220, ["noise z ~ N(0, I₁₀₀)"], "noise")
    g = d.box(10, below(z, 30), 220, ["generator G", "100 → … → 1024 → 784"], "net")
    d.down(z, g)
    fake = d.box(10, below(g, 30), 220, ["fake image G(z)"], "data")
    d.down(g, fake)
    real = d.box(250, fake[1], 220, ["real image x", "(training set)"], "data")
    disc = d.box(90, below(real, 40), 300, ["discriminator D", "784 → 512 → 256 → 1"], "net")
    d.down(fake, disc, at=mid(fake))
    d.down(real, disc, at=mid(real))
    prob = d.box(90, below(disc, 30), 300, ["D(·) ∈ (0, 1): “is it real?”"], "op")
    d.down(disc, prob)
    d.box(10, below(prob, 24), 460, ["D maximises log D(x) + log(1 − D(G(z)))", "G minimises −log D(G(z))"],
          "loss", bold=True)  # fmt: skip
    return d


def coupling() -> Diagram:
    d = Diagram("coupling", "An affine coupling layer: split, scale, shift", (
        "The input x is split by a mask b into a kept half x_a and an other half x_b, 392 pixels each. The kept "
        "half passes through unchanged and feeds a network that outputs a log-scale s and a shift t. The other "
        "half becomes y_b = x_b times exp(s) plus t. The output joins y_a = x_a and y_b. The Jacobian is "
        "triangular, so log |det J| is the sum of s; the inverse is x_b = (y_b - t) times exp(-s), without "
        "inverting the network."))
    x = d.box(120, 10, 240, ["input x (784)"], "data")
    xa = d.box(10, below(x, 36), 200, ["kept half x_a", "(mask b = 1)"], "data")
    xb = d.box(270, xa[1], 200, ["other half x_b", "(mask b = 0)"], "data")
    d.arrow((mid(x) - 40, below(x)), (mid(xa), xa[1]))
    d.arrow((mid(x) + 40, below(x)), (mid(xb), xb[1]))
    net = d.box(10, below(xa, 36), 200, ["network", "x_a → s, t"], "net")
    d.arrow((mid(xa) + 40, below(xa)), (mid(net) + 40, net[1]))
    aff = d.box(270, net[1], 200, ["y_b = x_b ⊙ exp(s) + t"], "op")
    d.down(xb, aff)
    d.arrow((net[0] + net[2], net[1] + net[3] / 2), (aff[0], aff[1] + aff[3] / 2))
    d.note(mid(net) + 120, net[1] - 6, "s, t", anchor="middle")
    ya = d.box(10, below(net, 36), 200, ["y_a = x_a", "(unchanged)"], "data")
    d.arrow((xa[0] + 20, below(xa)), (xa[0] + 20, ya[1]))
    out = d.box(120, below(ya, 36), 240, ["output y = (y_a, y_b)"], "data")
    d.arrow((mid(ya), below(ya)), (mid(out) - 40, out[1]))
    d.arrow((mid(aff), below(aff)), (mid(out) + 40, out[1]))
    d.box(10, below(out, 20), 460, ["log |det J| = Σ s   (J is triangular)", "inverse: x_b = (y_b − t) ⊙ exp(−s)"],
          "loss", bold=True)  # fmt: skip
    return d


def dequantization() -> Diagram:
    d = Diagram("dequantization", "Dequantization: from integer pixels to a continuous density", (
        "A pixel value k is an integer from 0 to 255. Dequantization adds uniform noise u from [0, 1), so v = k + u "
        "lies in the unit cell [k, k + 1): the integers become adjacent cells of width 1 that tile [0, 256). "
        "Dividing by 256 gives y in [0, 1). The probability of k is the density's integral over its cell, which "
        "is at least exp of the expected log-density there (Jensen), so the dequantized log-likelihood is a lower "
        "bound on the discrete one."))
    k = d.box(90, 10, 300, ["pixel k ∈ {0, 1, …, 255}"], "data")
    # the number line: cells [k, k + 1) for k = 0..4, one of them filled
    left, cell, y0 = 60, 72, below(k, 70)
    d.parts.append(f'<line x1="{left}" y1="{y0}" x2="{left + 5 * cell}" y2="{y0}" stroke="{INK}" stroke-width="1.6"/>')
    for i in range(6):
        x = left + i * cell
        d.parts.append(f'<line x1="{x}" y1="{y0 - 8}" x2="{x}" y2="{y0 + 8}" stroke="{INK}" stroke-width="1.6"/>')
        d.note(x, y0 + 28, str(i), anchor="middle")
    fill, stroke = KINDS["noise"]
    d.parts.append(f'<rect x="{left + 3 * cell}" y="{y0 - 20}" width="{cell}" height="20" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="1.6"/>')  # fmt: skip
    d.note(left + 5 * cell + 10, y0 + 5, "…")
    d.arrow((mid(k), below(k)), (left + 3 * cell + 10, y0 - 22))
    d.note(mid(k) + 60, below(k) + 26, "k = 3, + u ~ U[0, 1)")
    v = d.box(40, y0 + 56, 400, ["v = k + u ∈ [k, k + 1): cells tile [0, 256)"], "noise")
    d.arrow((left + 3.5 * cell, y0 + 34), (left + 3.5 * cell, v[1]))
    y = d.box(40, below(v, 34), 400, ["y = v / 256 ∈ [0, 1): what the flow models"], "data")
    d.down(v, y)
    d.box(10, below(y, 22), 460, ["P(k) = ∫ p(k + u) du ≥ exp E_u[log p(k + u)]",
                                  "dequantized log-likelihood ≤ discrete one"], "loss", bold=True)  # fmt: skip
    return d


def bits_per_dim() -> Diagram:
    d = Diagram("bits_per_dim", "From an 8-bit image to bits per dimension", (
        "The pipeline from integers to bits per dimension, each step with its term in the log-likelihood. Integers "
        "k plus uniform noise give v; dividing by 256 gives y, adding -D ln 256 to log p; the logit step adds its "
        "log-determinant; the flow's couplings add the sum of their log-scales; the standard normal density of z "
        "adds log N(z; 0, I). The negative of the total is the NLL of v in nats; divided by D ln 2 with D = 784 it "
        "is bits per dimension, and a uniform model scores exactly 8."))
    steps = [
        (["k ∈ {0, …, 255}⁷⁸⁴"], "data", None),
        (["v = k + u", "u ~ U[0, 1)⁷⁸⁴"], "noise", "log P(k) ≥ E_u log p(v)"),
        (["y = v / 256"], "op", "log p(v) = log p(y) − D ln 256"),
        (["logit step:", "h = logit(α + (1−2α) y)"], "op", "+ log |det| of the logit"),
        (["z = f(h): the couplings"], "net", "+ Σ s over all couplings"),
        (["log N(z; 0, I)"], "loss", "+ log N(z; 0, I)"),
    ]
    y, prev = 10, None
    for lines, kind, term in steps:
        b = d.box(10, y, 210, lines, kind)
        if prev:
            d.down(prev, b)
        if term:
            d.note(226, b[1] + b[3] / 2 + 5, term, color=KINDS["loss"][1])
        prev, y = b, below(b, 30)
    nll = d.box(10, y, 460, ["NLL of v in nats = −(sum of the terms on the right)"], "loss", bold=True)
    d.down(prev, nll, at=mid(prev))
    bpd = d.box(10, below(nll, 30), 460, ["bits/dim = NLL / (D ln 2),  D = 784", "a uniform model scores exactly 8"],
                "loss", bold=True)  # fmt: skip
    d.down(nll, bpd)
    return d


DIAGRAMS = (vae, gan, coupling, dequantization, bits_per_dim)


def draw_all(folder: Path = HERE) -> dict[str, str]:
    """Write every diagram to ``folder/NAME.svg``; returns {file name: SVG text}."""
    written = {}
    for make in DIAGRAMS:
        diagram = make()
        text = diagram.svg()
        (folder / f"{diagram.name}.svg").write_text(text, encoding="utf-8")
        written[f"{diagram.name}.svg"] = text
    return written


if __name__ == "__main__":
    for name in draw_all():
        print(f"wrote {HERE / name}")
