"""Pictures: digit grids, the per-digit detail view and the robustness curve.

Figures are built with matplotlib's object API (``Figure``), never pyplot, so
no global figure registry grows across app reruns. matplotlib is not
guaranteed to be thread-safe and the app renders from many session threads,
so figure rendering is serialized. Everything returns bytes or strings;
nothing is shown or written here. Images are ``(N, 28, 28, 1)`` or
``(28, 28, 1)`` float32 in [0, 1].
"""

from __future__ import annotations

import base64
import functools
import html
import io
import threading
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede any backend use

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

BASE_COLOR = "#7f7f7f"
ADV_COLOR = "#1f77b4"
WRONG_COLOR = "#d62728"
RIGHT_COLOR = "#2ca02c"


_FIGURE_LOCK = threading.Lock()


def _serialized(render):
    @functools.wraps(render)
    def wrapper(*args, **kwargs):
        with _FIGURE_LOCK:
            return render(*args, **kwargs)

    return wrapper


def _png(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


@_serialized
def tutorial_grid_png(images: np.ndarray, labels: np.ndarray, base_pred: np.ndarray,
                      adv_pred: np.ndarray, n_col: int = 4) -> bytes:
    """The tutorial's figure: perturbed digits, 4 columns, each titled
    ``true: t, base: b, adv: a``. Returns PNG bytes."""
    n_row = -(-len(images) // n_col)
    fig = Figure(figsize=(15, 15 * n_row / 8))
    for i, (image, y) in enumerate(zip(images, labels)):
        ax = fig.add_subplot(n_row, n_col, i + 1)
        ax.set_title(f"true: {int(y)}, base: {int(base_pred[i])}, adv: {int(adv_pred[i])}")
        ax.imshow(np.squeeze(image, -1), cmap="gray", vmin=0.0, vmax=1.0)
        ax.axis("off")
    return _png(fig, dpi=72)


def digit_png(image: np.ndarray, scale: int = 3) -> bytes:
    """One digit as a crisp grayscale PNG, ``scale`` times its size."""
    pixels = np.clip(np.squeeze(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, mode="L").resize((28 * scale, 28 * scale), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def digit_grid_html(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, title: str,
                    n_col: int = 8, selected: int | None = None) -> str:
    """A titled grid of digits with their true label and prediction.

    Wrong predictions are red, right ones green; the title carries the count,
    e.g. ``base model: 16 / 32``. Returns a self-contained HTML fragment.
    """
    correct = int(np.sum(predictions == labels))
    tiles = []
    for i, (image, y, p) in enumerate(zip(images, labels, predictions)):
        ok = int(p) == int(y)
        src = base64.b64encode(digit_png(image)).decode()
        ring = "outline:3px solid #f2c94c;" if i == selected else ""
        tiles.append(
            f'<figure class="advdemo-tile" style="margin:0;text-align:center;{ring}">'
            f'<img alt="digit {i}" src="data:image/png;base64,{src}" '
            f'style="width:100%;image-rendering:pixelated;border:3px solid '
            f'{RIGHT_COLOR if ok else WRONG_COLOR};border-radius:4px"/>'
            f'<figcaption style="font-size:0.8rem;line-height:1.1;color:{"inherit" if ok else WRONG_COLOR};'
            f'font-weight:{"normal" if ok else "bold"}">#{i} true {int(y)}<br/>pred {int(p)}</figcaption>'
            "</figure>"
        )
    return (
        f'<div class="advdemo-grid" data-correct="{correct}" data-total="{len(labels)}">'
        f'<div style="font-weight:600;margin-bottom:0.3rem">{html.escape(title)}: {correct} / {len(labels)}</div>'
        f'<div style="display:grid;grid-template-columns:repeat({n_col},1fr);gap:4px">{"".join(tiles)}</div>'
        "</div>"
    )


@_serialized
def detail_png(original: np.ndarray, base_image: np.ndarray, adv_image: np.ndarray, label: int,
               base_proba: np.ndarray, adv_proba: np.ndarray) -> bytes:
    """One digit in detail: original, perturbation, perturbed image(s), probabilities.

    ``base_image`` / ``adv_image`` are the perturbed inputs each model saw (the
    same array in transfer mode). The perturbation is shown amplified to its
    own maximum on a diverging map (red adds ink, blue removes it).
    """
    same = base_image is adv_image or np.array_equal(base_image, adv_image)
    panels = 4 if same else 5
    fig = Figure(figsize=(2.4 * panels + 3.5, 2.8))
    grid = fig.add_gridspec(1, panels + 1, width_ratios=[1] * panels + [2.2])
    delta = np.squeeze(base_image - original)
    limit = float(np.max(np.abs(delta))) or 1.0

    def show(ax, img, title, **kw):
        ax.imshow(np.squeeze(img), **kw)
        ax.set_title(title, fontsize=10)
        ax.axis("off")

    show(fig.add_subplot(grid[0]), original, f"original (true {label})", cmap="gray", vmin=0, vmax=1)
    im = fig.add_subplot(grid[1])
    show(im, delta, f"perturbation (±{limit:.2f})", cmap="RdBu_r", vmin=-limit, vmax=limit)
    if same:
        show(fig.add_subplot(grid[2]), base_image, "perturbed", cmap="gray", vmin=0, vmax=1)
        spare = 3
    else:
        show(fig.add_subplot(grid[2]), base_image, "attack on base", cmap="gray", vmin=0, vmax=1)
        show(fig.add_subplot(grid[3]), adv_image, "attack on regularized", cmap="gray", vmin=0, vmax=1)
        spare = 4
    fig.add_subplot(grid[spare]).axis("off")
    bars = fig.add_subplot(grid[panels])
    classes = np.arange(len(base_proba))
    bars.bar(classes - 0.2, base_proba, width=0.4, color=BASE_COLOR, label="base")
    bars.bar(classes + 0.2, adv_proba, width=0.4, color=ADV_COLOR, label="regularized")
    bars.set_xticks(classes)
    bars.set_ylim(0, 1)
    bars.set_title("class probabilities", fontsize=10)
    bars.legend(fontsize=8, loc="upper right")
    return _png(fig)


@_serialized
def curve_png(curve: dict[str, Sequence[float]], current: float | None, xlabel: str) -> bytes:
    """Accuracy of both models against attack strength, ``current`` marked."""
    fig = Figure(figsize=(6.5, 3.2))
    ax = fig.add_subplot()
    ax.plot(curve["strengths"], curve["base"], "o-", color=BASE_COLOR, label="base")
    ax.plot(curve["strengths"], curve["adv"], "o-", color=ADV_COLOR, label="adv-regularized")
    if current is not None:
        ax.axvline(current, color=WRONG_COLOR, linestyle="--", linewidth=1, label="current strength")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _png(fig)
