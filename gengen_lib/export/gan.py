"""Export the GAN generator for the book's in-page latent walk (``book/gan_explorer.md``).

The static book has no Python kernel, so the page runs the generator itself, in JavaScript
(``book/explorer/gan-explorer.js`` on ``explorer-core.js``). Batch norm in evaluation mode is
a fixed affine map per unit, so it is folded into the linear layer before it here, and the
page only needs Linear, LeakyReLU(0.2) and tanh::

    BN(W x + b) = s * (W x + b - mean) + beta,   s = gamma / sqrt(var + eps)
                = (s[:, None] * W) x + s * (b - mean) + beta

File format (version 1). One JSON object::

    {"format": "gengen-gan-generator", "version": 1, "name": "gan", "dtype": "float16", "z_dim": 100,
     "widths": [128, 256, 512, 1024], "pixels": 784, "negative_slope": 0.2,
     "layers": [{"weight": ARRAY, "bias": ARRAY}, ... five of them],
     "seeds": [0, 1, ..., 31], "codes": ARRAY, "info": {...}}

with every ARRAY as in :mod:`.format` (base64 of little-endian bytes, row-major).
Layer weights have PyTorch's shape (out, in): ``h = leaky_relu(W_i h + b_i, 0.2)`` for the
four hidden layers, then ``x = tanh(W_5 h + b_5)`` in [-1, 1]; the page draws the image
``(x + 1) / 2`` black on white, as the chapter's figures do. ``codes`` (len(seeds), z_dim),
float32, holds the latent code of each seed exactly as the chapter draws it
(:func:`gengen_lib.latent.code_from_seed`), so the page can walk between the same codes as the notebook.

float16 storage: the first and last layers are the shipped float16 weights, exactly; the three
folded layers are folded in float64, then rounded to float16. That is within tolerance: the
folded float16 generator's images differ from the shipped generator's (eval mode, float32) by
at most about half of one grey level (of 255): 0.40 over the 2,000 random codes of
``tests/test_gan_explorer.py``, which holds it to one grey level, and 0.53 over another 2,000.

:func:`export_book_generator` writes ``generator_gan.js`` for the book (one of the exporters of
``python -m gengen_lib.export``); :func:`load_generator` reads a file back into a torch module.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import pretrained
from ..latent import code_from_seed
from .format import BOOK_DIR, decode_array, document, encode_array, encode_layer, read_document, write_document

FORMAT = "gengen-gan-generator"
VERSION = 1
REGISTRY = "GENGEN_GENERATORS"
BOOK_SEEDS = range(32)
# The GAN settings of the chapter, and the shipped model trained with each.
CHAPTER_GANS = ("gan-plain", "gan-regularized")


def fold_batch_norm(linear: nn.Linear, norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (out, in) and bias (out,) of the one linear map equal to ``norm(linear(x))`` in eval mode, float64."""
    weight, bias = linear.weight.detach().double(), linear.bias.detach().double()
    scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.detach().double() + norm.eps)
    shift = norm.bias.detach().double() - scale * norm.running_mean.detach().double()
    return scale[:, None] * weight, scale * bias + shift


def folded_layers(generator: nn.Module) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float]:
    """The (weight, bias) pairs of ``generator`` (a :class:`~gengen_lib.gan.Generator`) with batch
    norm folded in, and the LeakyReLU slope. The layers then compute Linear, LeakyReLU, ..., Linear, tanh."""
    modules = list(generator.net)
    layers, slopes = [], []
    for i, module in enumerate(modules):
        following = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(module, nn.Linear):
            if isinstance(following, nn.BatchNorm1d):
                layers.append(fold_batch_norm(module, following))
            else:
                layers.append((module.weight.detach().double(), module.bias.detach().double()))
        elif isinstance(module, nn.LeakyReLU):
            slopes.append(module.negative_slope)
        elif not isinstance(module, (nn.BatchNorm1d, nn.Tanh)):
            raise TypeError(f"cannot export a generator with a {type(module).__name__} layer")
    if not isinstance(modules[-1], nn.Tanh) or len(slopes) != len(layers) - 1 or len(set(slopes)) != 1:
        raise TypeError("expected a gengen_lib.gan.Generator: Linear [BatchNorm] LeakyReLU ... Linear Tanh")
    return layers, slopes[0]


def folded_generator(layers, negative_slope: float = 0.2) -> nn.Sequential:
    """The folded network as a torch module, float32, eval mode: z (N, z_dim) -> x (N, 784) in [-1, 1]."""
    modules: list[nn.Module] = []
    for i, (weight, bias) in enumerate(layers):
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight))
            linear.bias.copy_(torch.as_tensor(bias))
        modules += [linear, nn.LeakyReLU(negative_slope) if i < len(layers) - 1 else nn.Tanh()]
    return nn.Sequential(*modules).eval()


def generator_document(
    gan, name: str = "gan", seeds=BOOK_SEEDS, dtype: str = "float16", info: dict | None = None
) -> dict:
    """The JSON-able description of ``gan``'s generator (a GAN or its Generator), batch norm
    folded in, with the codes of ``seeds`` (see the module docstring)."""
    generator = getattr(gan, "generator", gan)
    layers, slope = folded_layers(generator)
    z_dim = layers[0][0].shape[1]
    seeds = [int(s) for s in seeds]
    codes = torch.stack([code_from_seed(s, z_dim) for s in seeds]) if seeds else torch.zeros(0, z_dim)
    return document(
        FORMAT, VERSION, name, dtype, info,
        z_dim=z_dim,
        widths=[w.shape[0] for w, _ in layers[:-1]],
        pixels=layers[-1][0].shape[0],
        negative_slope=slope,
        layers=[encode_layer(w, b, dtype) for w, b in layers],
        seeds=seeds,
        # The codes stay float32, as torch draws them: the page walks between the very same points.
        codes=encode_array(codes.numpy(), "float32"),
    )  # fmt: skip


def export_generator(gan, path: str | Path, **kwargs) -> Path:
    """Write ``gan``'s folded generator to ``path`` (``.js`` for a page, ``.json`` plain).

    Keyword arguments go to :func:`generator_document`; ``name`` defaults to the file's stem
    minus ``generator_`` and is the key under ``window.GENGEN_GENERATORS``. Returns the path.
    """
    path = Path(path)
    kwargs.setdefault("name", path.stem.removeprefix("generator_"))
    return write_document(generator_document(gan, **kwargs), path, registry=REGISTRY)


def load_generator(path: str | Path) -> tuple[nn.Sequential, dict]:
    """Read an exported file back: (the folded generator as a float32 torch module, the document)."""
    doc = read_document(path, format=FORMAT, version=VERSION)
    layers = [
        (
            torch.from_numpy(decode_array(layer["weight"], doc["dtype"])),
            torch.from_numpy(decode_array(layer["bias"], doc["dtype"])),
        )
        for layer in doc["layers"]
    ]
    return folded_generator(layers, doc["negative_slope"]), doc


def document_codes(doc: dict) -> torch.Tensor:
    """The document's bank of latent codes (len(seeds), z_dim), float32."""
    return torch.from_numpy(decode_array(doc["codes"], "float32"))


def chapter_gan() -> str:
    """The shipped GAN the chapter's latent-walk figure shows: the setting with the lower MNIST-FID."""
    metrics = pretrained.manifest()
    return min(CHAPTER_GANS, key=lambda name: metrics[name]["metrics"]["fid"])


def export_book_generator(out_dir: str | Path = BOOK_DIR, dtype: str = "float16") -> list[Path]:
    """Write ``generator_gan.js`` to ``out_dir``: the generator of :func:`chapter_gan`, with the codes
    of seeds 0-31. Returns the one path."""
    name = chapter_gan()
    gan, history = pretrained.load(name)
    entry = pretrained.manifest()[name]
    info = {
        "model": f"GAN generator, {len(history.epochs)} epochs (weights/{name})",
        "shipped": name,
        "fid": entry["metrics"]["fid"],
    }
    return [export_generator(gan, Path(out_dir) / "generator_gan.js", dtype=dtype, info=info)]
