"""Pictures: digit grids and the per-digit detail view (the robustness curve is :mod:`advdemo.page.charts`).

The page's digit grids and detail view are plain HTML with small inline PNGs:
cheap to build on the server and cheap for a browser to draw, which matters
when a classroom of students shares one small server. The tutorial's grid
(CLI) is a matplotlib figure, built with matplotlib's object API
(``Figure``), never pyplot, so no global figure registry grows across app
reruns. matplotlib is not guaranteed to be thread-safe and the app renders
from many session threads, so figure rendering is serialized. Everything
returns bytes or strings; nothing is shown or written here. Images are
``(N, 28, 28, 1)`` or ``(28, 28, 1)`` float32 in [0, 1].
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
import threading
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede any backend use

import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from advdemo.i18n import Catalogue, Language, english  # noqa: E402
from advdemo.memo import LruCache, array_digest  # noqa: E402

# Colour-blind-safe (Okabe & Ito): orange for the base model, blue for the regularized one.
BASE_COLOR = "#E69F00"
ADV_COLOR = "#0072B2"
# Right and wrong: Okabe & Ito's bluish green and vermillion, always beside a symbol (✓ / ✗).
WRONG_COLOR = "#D55E00"
RIGHT_COLOR = "#009E73"


_FIGURE_LOCK = threading.Lock()


def _serialized(render):
    @functools.wraps(render)
    def wrapper(*args, **kwargs):
        with _FIGURE_LOCK:
            return render(*args, **kwargs)

    return wrapper


#: HTML fragments by content: a class looks at the same few views, so each grid and detail is drawn once.
_FRAGMENTS: LruCache[str] = LruCache(256)


def _content_key(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.shape, value.dtype.str, array_digest(value)
    if isinstance(value, Catalogue):
        return value.language
    return value


def _kept(render):
    """Keep ``render``'s HTML per content of its arguments (arrays by a digest of their bytes)."""
    @functools.wraps(render)
    def wrapper(*args, **kwargs):
        key = (render.__name__, *map(_content_key, args), *((k, _content_key(v)) for k, v in sorted(kwargs.items())))
        return _FRAGMENTS.get_or_compute(key, lambda: render(*args, **kwargs))

    return wrapper


def _png(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


#: Font files with Chinese glyphs, by the start of their file name, most wanted first.
CJK_FONT_FILES = ("NotoSansCJK", "NotoSansSC", "SourceHanSans", "wqy-zenhei", "wqy-microhei", "DroidSansFallback",
                  "NotoSerifCJK", "msyh", "simhei", "PingFang")


@functools.cache
def cjk_font() -> str | None:
    """The path of an installed font that has Chinese glyphs (Debian: ``fonts-noto-cjk``), or None."""
    files = sorted(font_manager.findSystemFonts(), key=lambda f: ("bold" in f.lower(), os.path.basename(f)))
    for prefix in CJK_FONT_FILES:
        for path in files:
            if os.path.basename(path).lower().startswith(prefix.lower()):
                return path
    return None


def needs_font_fallback(tr: Catalogue) -> bool:
    """True when ``tr``'s language needs a font this machine lacks: pictures then use English titles."""
    return tr.language is Language.ZH and cjk_font() is None


@_serialized
def tutorial_grid_png(images: np.ndarray, labels: np.ndarray, base_pred: np.ndarray,
                      regularized_pred: np.ndarray, n_col: int = 4, tr: Catalogue | None = None) -> bytes:
    """The tutorial's figure: perturbed digits, 4 columns, each titled
    ``true: t, base: b, adv: a`` (``adv``: the regularized model, in the tutorial's words) in ``tr``'s
    language; in English where that language's font is missing (:func:`needs_font_fallback`). Returns PNG bytes."""
    tr = tr or english()
    font = None
    if needs_font_fallback(tr):
        tr = english()
    elif tr.language is Language.ZH:
        font = font_manager.FontProperties(fname=cjk_font(), size=12)
    n_row = -(-len(images) // n_col)
    fig = Figure(figsize=(15, 15 * n_row / 8))
    for i, (image, y) in enumerate(zip(images, labels)):
        ax = fig.add_subplot(n_row, n_col, i + 1)
        ax.set_title(tr("grid.png_title", label=int(y), base=int(base_pred[i]), regularized=int(regularized_pred[i])),
                     fontproperties=font)
        ax.imshow(np.squeeze(image, -1), cmap="gray", vmin=0.0, vmax=1.0)
        ax.axis("off")
    return _png(fig, dpi=72)


def digit_png(image: np.ndarray, scale: int = 1) -> bytes:
    """One digit as a grayscale PNG, ``scale`` times its 28 x 28 size.

    The page shows digits at scale 1 and lets the browser enlarge them with
    ``image-rendering: pixelated``: the same crisp picture for a ninth of the bytes.
    """
    pixels = np.clip(np.squeeze(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return _encode_png(pixels.tobytes(), pixels.shape, "L", scale)


#: Diverging colors for perturbations: blue removes ink, white is unchanged, red adds ink.
_REMOVE_RGB = np.array([33, 102, 172], np.float32)
_ADD_RGB = np.array([178, 24, 43], np.float32)


def perturbation_png(delta: np.ndarray, limit: float) -> bytes:
    """A perturbation ``(28, 28[, 1])`` in [-limit, limit] as a blue-white-red PNG."""
    t = np.clip(np.squeeze(delta) / limit, -1.0, 1.0)[..., None]
    white = np.float32(255.0)
    rgb = np.where(t >= 0, white + t * (_ADD_RGB - white), white - t * (_REMOVE_RGB - white))
    pixels = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return _encode_png(pixels.tobytes(), pixels.shape, "RGB", 1)


# A class on one link asks for the same digits again and again; encoding is the costly part.
@functools.lru_cache(maxsize=8192)
def _encode_png(pixels: bytes, shape: tuple[int, ...], mode: str, scale: int) -> bytes:
    array = np.frombuffer(pixels, np.uint8).reshape(shape)
    img = Image.fromarray(array, mode=mode)
    if scale != 1:
        img = img.resize((shape[1] * scale, shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _img(png: bytes, alt: str, style: str = "") -> str:
    return (f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}" '
            f'style="width:100%;image-rendering:pixelated;{style}"/>')


@_kept
def digit_grid_html(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, title: str,
                    n_col: int = 8, tr: Catalogue | None = None) -> str:
    """A titled grid of digits with their true label and prediction.

    Wrong predictions are marked ✗ in vermillion, right ones ✓ in bluish green (safe for colour-blind
    eyes, and never by colour alone); the title carries the count,
    e.g. ``base model: 16 / 32``. Tiles are ``figure.advdemo-tile`` elements in
    order, so a style can ring the ``nth-child``. Words in ``tr``'s language (default English).
    Returns a self-contained HTML fragment.
    """
    tr = tr or english()
    correct = int(np.sum(predictions == labels))
    tiles = []
    for i, (image, y, p) in enumerate(zip(images, labels, predictions)):
        ok = int(p) == int(y)
        tiles.append(
            '<figure class="advdemo-tile" style="margin:0;text-align:center">'
            + _img(digit_png(image), tr("grid.alt", index=i, label=int(y), predicted=int(p),
                                        verdict=tr("grid.right" if ok else "grid.wrong")),
                   f"border:3px solid {RIGHT_COLOR if ok else WRONG_COLOR};border-radius:4px")
            + f'<figcaption style="font-size:0.75rem;line-height:1.1;color:{"inherit" if ok else WRONG_COLOR};'
            f'font-weight:{"normal" if ok else "bold"}">{html.escape(tr("grid.caption", index=i, label=int(y)))}<br/>'
            f'{"✓" if ok else "✗"} {html.escape(tr("grid.predicted", predicted=int(p)))}'
            "</figcaption>"
            "</figure>"
        )
    return (
        f'<div class="advdemo-grid" data-correct="{correct}" data-total="{len(labels)}">'
        f'<div style="font-weight:600;margin-bottom:0.3rem">'
        f'{html.escape(tr("grid.title", title=title, correct=correct, total=len(labels)))}</div>'
        f'<div style="display:grid;grid-template-columns:repeat({n_col},1fr);gap:4px">{"".join(tiles)}</div>'
        "</div>"
    )


def side_by_side_html(*fragments: str, min_width: str = "20rem") -> str:
    """HTML fragments in equal columns, wrapping onto rows on narrow screens."""
    return (f'<div class="advdemo-columns" style="display:grid;gap:1rem 2rem;'
            f'grid-template-columns:repeat(auto-fit,minmax({min_width},1fr))">{"".join(fragments)}</div>')


@_kept
def digit_detail_html(original: np.ndarray, base_image: np.ndarray, reg_image: np.ndarray, label: int,
                      base_proba: np.ndarray, reg_proba: np.ndarray, tr: Catalogue | None = None) -> str:
    """One digit in detail: original, perturbation, perturbed image(s) and class probabilities.

    Images are ``(28, 28, 1)`` float32 in [0, 1]; ``base_image`` / ``reg_image``
    are the perturbed inputs each model saw (equal in transfer mode, then shown
    once). The perturbation is scaled to its own largest change (red adds ink,
    blue removes it). Probabilities are ``(10,)`` and sum to 1. Returns a
    self-contained HTML fragment (plain HTML and CSS, so the browser draws it
    cheaply and no figure is rendered on the server). Words in ``tr``'s language (default English).
    """
    tr = tr or english()
    same = np.array_equal(base_image, reg_image)
    delta = np.squeeze(base_image - original)
    largest = float(np.max(np.abs(delta)))
    panels = [(digit_png(original), tr("grid.original", label=int(label))),
              (perturbation_png(delta, largest or 1.0),
               tr("grid.perturbation", largest=largest) if largest else tr("grid.no_perturbation"))]
    if same:
        panels.append((digit_png(base_image), tr("grid.perturbed")))
    else:
        panels += [(digit_png(base_image), tr("grid.attack_on_base")),
                   (digit_png(reg_image), tr("grid.attack_on_regularized"))]
    return _detail_html(panels, label, base_proba, reg_proba, "advdemo-detail", tr)


@_kept
def prediction_html(image: np.ndarray, label: int, base_proba: np.ndarray, reg_proba: np.ndarray,
                    tr: Catalogue | None = None) -> str:
    """A digit ``(28, 28, 1)`` in [0, 1] as the models see it, and both models' ``(10,)`` probabilities.

    ``label`` is the class the user says it is (set in bold). An
    ``advdemo-prediction`` HTML fragment with the same data attributes as
    :func:`digit_detail_html`.
    """
    tr = tr or english()
    return _detail_html([(digit_png(image), tr("grid.model_sees"))], label, base_proba, reg_proba,
                        "advdemo-prediction", tr)


def _detail_html(panels: Sequence[tuple[bytes, str]], label: int, base_proba: np.ndarray, reg_proba: np.ndarray,
                 css_class: str, tr: Catalogue) -> str:
    """Image panels ``(png, caption)`` beside both models' probability bars for the 10 classes."""
    figures = "".join(
        f'<figure style="margin:0;flex:0 0 7.5rem;text-align:center">{_img(png, caption, "border:1px solid #ccc")}'
        f'<figcaption style="font-size:0.8rem">{html.escape(caption)}</figcaption></figure>'
        for png, caption in panels)
    base_pred, reg_pred = int(np.argmax(base_proba)), int(np.argmax(reg_proba))
    base, regularized = tr("model.base_short"), tr("model.regularized_short")

    def bar(p: float, color: str, who: str, k: int) -> str:
        title = html.escape(tr("grid.probability", model=who, digit=k, probability=p))
        return (f'<div title="{title}" style="width:40%;height:{100 * p:.1f}%;'
                f'min-height:1px;background:{color}"></div>')

    columns = "".join(
        f'<div style="flex:1;display:flex;flex-direction:column;align-items:stretch">'
        f'<div style="height:6rem;display:flex;align-items:flex-end;justify-content:center;gap:2px">'
        f'{bar(float(base_proba[k]), BASE_COLOR, base, k)}{bar(float(reg_proba[k]), ADV_COLOR, regularized, k)}'
        f'</div><div style="text-align:center;font-size:0.8rem;'
        f'{"font-weight:bold;" if k == int(label) else ""}">{k}</div></div>'
        for k in range(len(base_proba)))
    says = [html.escape(tr("grid.says", model=who, predicted=pred, probability=float(proba[pred])))
            for who, pred, proba in ((base, base_pred, base_proba), (regularized, reg_pred, reg_proba))]
    legend = (f'<span style="color:{BASE_COLOR}">■</span> {says[0]} &nbsp; '
              f'<span style="color:{ADV_COLOR}">■</span> {says[1]}')
    return (
        f'<div class="{css_class}" data-label="{int(label)}" data-base-pred="{base_pred}" '
        f'data-adv-pred="{reg_pred}" style="display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start">'
        f'{figures}'
        f'<div style="flex:1 1 16rem;min-width:16rem"><div style="font-size:0.8rem;margin-bottom:0.2rem">'
        f'{html.escape(tr("grid.probabilities"))} · {legend}</div>'
        f'<div style="display:flex;gap:2px;border-bottom:1px solid #999">{columns}</div></div>'
        "</div>"
    )
