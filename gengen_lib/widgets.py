"""Interactive views for Jupyter (ipywidgets). They need a running kernel to react."""

from __future__ import annotations

import io

import ipywidgets as W
import torch
from PIL import Image as PILImage

from .data import IMAGE_SHAPE
from .latent import code_from_seed
from .plots import grid


def _to_png(values: torch.Tensor, scale: int) -> bytes:
    """A (H, W) tensor of values in [0, 1] -> PNG bytes of black-on-white pixels, upscaled ``scale`` times."""
    pixels = ((1.0 - values.detach().float().cpu().clamp(0, 1)) * 255).round().to(torch.uint8)
    h, w = pixels.shape
    img = PILImage.fromarray(pixels.numpy(), mode="L").resize((w * scale, h * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_bytes(x: torch.Tensor, scale: int = 6) -> bytes:
    """One image (784,) or (28, 28) with values in [0, 1] -> PNG bytes, black on white."""
    return _to_png(x.reshape(IMAGE_SHAPE), scale)


def grid_png_bytes(images: torch.Tensor, nrow: int = 4, scale: int = 3) -> bytes:
    """Several images (N, 784) in [0, 1] tiled in rows of ``nrow`` -> PNG bytes, black on white."""
    return _to_png(grid(images, nrow=nrow), scale)


def image_widget(x: torch.Tensor, scale: int = 6) -> W.Image:
    return W.Image(value=png_bytes(x, scale), format="png", layout=W.Layout(border="1px solid #ccc"))


def digit_explorer(images: torch.Tensor, labels: torch.Tensor) -> W.VBox:
    """Pick a digit and a threshold; see the 8-bit image beside its thresholded binary version."""
    index = W.IntSlider(0, min=0, max=len(images) - 1, description="digit #", continuous_update=False)
    threshold = W.FloatSlider(0.5, min=0.05, max=0.95, step=0.05, description="threshold")
    original, binary = image_widget(torch.zeros(IMAGE_SHAPE)), image_widget(torch.zeros(IMAGE_SHAPE))
    caption = W.HTML()

    def update(_=None):
        x = images[index.value].float() / 255.0
        original.value = png_bytes(x)
        binary.value = png_bytes((x > threshold.value).float())
        on = (x > threshold.value).float().mean().item()
        caption.value = f"label <b>{labels[index.value].item()}</b>, {on:.1%} of pixels above the threshold"

    index.observe(update, "value")
    threshold.observe(update, "value")
    update()
    return W.VBox([W.HBox([index, threshold]), W.HBox([original, binary]), caption])


def latent_explorer(
    decode,
    directions: torch.Tensor,
    origin: torch.Tensor | None = None,
    names: list[str] | None = None,
    limit: float = 3.0,
) -> W.VBox:
    """Sliders that move a latent code along ``directions`` (k, z_dim) from ``origin`` (z_dim,).

    ``decode`` maps (1, z_dim) latents to (1, 784) pixel means in [0, 1]. With the identity
    as ``directions`` each slider is one latent coordinate.
    """
    k, z_dim = directions.shape
    origin = torch.zeros(z_dim) if origin is None else origin
    names = names or [f"z{i + 1}" for i in range(k)]
    sliders = [W.FloatSlider(0.0, min=-limit, max=limit, step=0.1, description=name) for name in names]
    image = image_widget(torch.zeros(IMAGE_SHAPE), scale=8)

    def update(_=None):
        coords = torch.tensor([s.value for s in sliders])
        z = origin + coords @ directions
        with torch.no_grad():
            image.value = png_bytes(decode(z[None].float())[0], scale=8)

    for s in sliders:
        s.observe(update, "value")
    update()
    return W.HBox([W.VBox(sliders), image])


def interpolation_explorer(decode, z_dim: int, seeds: int = 20, interpolate=None) -> W.HBox:
    """Pick two seeds (two latent codes z ~ N(0, I)) and a position t along the path between them.

    ``interpolate`` maps a method name to a function (z0, z1, t) -> (1, z_dim); ``decode``
    maps (1, z_dim) latents to (1, 784) images in [0, 1].
    """
    seed_a = W.IntSlider(0, min=0, max=seeds - 1, description="seed A")
    seed_b = W.IntSlider(1, min=0, max=seeds - 1, description="seed B")
    t = W.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="t")
    method = W.ToggleButtons(options=list(interpolate), description="path")
    image = image_widget(torch.zeros(IMAGE_SHAPE), scale=8)
    norm = W.HTML()

    def update(_=None):
        z = interpolate[method.value](code_from_seed(seed_a.value, z_dim), code_from_seed(seed_b.value, z_dim), t.value)
        with torch.no_grad():
            image.value = png_bytes(decode(z.reshape(1, -1))[0], scale=8)
        norm.value = f"|z| = {z.norm():.2f} (typical for N(0, I): {z_dim ** 0.5:.2f})"

    for w in (seed_a, seed_b, t, method):
        w.observe(update, "value")
    update()
    return W.HBox([W.VBox([seed_a, seed_b, t, method, norm]), image])


def flow_explorer(flow, endpoints: torch.Tensor, noise: torch.Tensor) -> W.HBox:
    """Two sliders for an image flow: a temperature that rescales fixed ``noise`` (16, 784) before
    the inverse flow, and a position along the great circle between the codes of two images
    ``endpoints`` (2, 784, values in [0, 1])."""
    from .latent import slerp

    temperature = W.FloatSlider(1.0, min=0.1, max=1.2, step=0.05, description="temperature")
    path = W.FloatSlider(0.0, min=0.0, max=1.0, step=0.05, description="path t")
    samples, walk = W.Image(format="png"), image_widget(torch.zeros(IMAGE_SHAPE), scale=8)
    with torch.no_grad():
        codes, _ = flow(endpoints)

    def redraw(_=None):
        with torch.no_grad():
            samples.value = grid_png_bytes(flow.inverse(noise * temperature.value).clamp(0, 1), nrow=4)
            walk.value = png_bytes(flow.inverse(slerp(codes[0], codes[1], path.value)[None]).clamp(0, 1)[0], scale=8)

    temperature.observe(redraw, "value")
    path.observe(redraw, "value")
    redraw()
    return W.HBox([W.VBox([temperature, samples]), W.VBox([path, walk])], layout=W.Layout(gap="40px"))
