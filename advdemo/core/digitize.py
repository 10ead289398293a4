"""A drawn or uploaded image, made into a digit as MNIST made its digits.

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled to fit a
20x20 box with its aspect ratio kept, then placed in a 28x28 field so that its
centre of mass sits at the centre. Digits are light on dark; an image of a
dark digit on a light ground is inverted first.

Every way an image can be unusable ends in :class:`ImageError` with one
sentence for the user. Nothing is written anywhere: the bytes stay in memory.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from advdemo.i18n import LocalizedError, Message, message

#: The largest upload, in bytes. ``.streamlit/config.toml`` sets Streamlit's
#: own limit (``server.maxUploadSize``, in megabytes) to the same value.
MAX_UPLOAD_BYTES = 2 * 2**20
#: The most pixels an image may have; decoding more would cost the server too much memory.
MAX_PIXELS = 4096 * 4096
SIDE = 28
BOX = 20
#: Pixels whose ink is below this fraction of the darkest stroke do not count towards the bounding box.
INK_THRESHOLD = 0.1
#: An image whose ink and ground differ by less than this (on a 0..1 scale) holds no digit.
MIN_CONTRAST = 0.15


class ImageError(LocalizedError, ValueError):
    """The image cannot be made into a digit; the message says why, in one sentence (``.message``: any language)."""


@dataclass(frozen=True)
class Digit:
    """A digit as the models see it: ``image`` ``(28, 28, 1)`` float32 in [0, 1], ink = 1.

    ``notes`` say what was done on the way that the user may want to know
    (an inverted image, the first frame of an animation, …).
    """

    image: np.ndarray
    notes: tuple[Message, ...] = ()


def decode(data: bytes) -> tuple[np.ndarray, list[Message]]:
    """Image file bytes -> grayscale ``(H, W)`` float32 in [0, 1] (1 = white), and notes.

    Accepts what Pillow reads: PNG, JPEG, GIF, BMP, WebP, TIFF, in any mode
    (16-bit, CMYK, palette, with transparency), turned upright by its EXIF
    orientation. Transparent pixels count as white paper.
    """
    if not data:
        raise ImageError("image.empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError("image.too_large", megabytes=len(data) / 2**20, limit=MAX_UPLOAD_BYTES / 2**20)
    notes: list[Message] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError("image.too_many_pixels", width=width, height=height, limit=MAX_PIXELS)
            if getattr(image, "n_frames", 1) > 1:
                notes.append(message("image.animated"))
                image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("image.unreadable") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageError("image.damaged") from None
    return _grayscale(image), notes


def _grayscale(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> ``(H, W)`` float32 in [0, 1], transparency over white.

    Raises :class:`ImageError` for a mode Pillow reads but cannot make gray.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values / top, 0.0, 1.0).astype(np.float32)
    if image.mode == "LAB":  # a TIFF can hold CIELAB, which Pillow cannot convert: its L is the lightness
        return np.asarray(image.getchannel("L"), dtype=np.float32) / 255.0
    if image.mode == "La":  # lightness premultiplied by alpha, which Pillow cannot convert either
        lightness, alpha = np.moveaxis(np.asarray(image, dtype=np.float32), -1, 0)
        return np.clip((lightness + 255.0 - alpha) / 255.0, 0.0, 1.0)
    try:
        if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa"):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except ValueError:  # "conversion from X to L not supported": a mode newer than this code
        raise ImageError("image.unreadable") from None


def to_mnist(gray: np.ndarray) -> Digit:
    """A grayscale image ``(H, W)`` in [0, 1] -> the 28x28 digit, as MNIST prepared its digits.

    The ground is the median of the border pixels; a light ground means a dark
    digit, which is inverted. Ink is then rescaled to [0, 1] against the
    ground, and the digit's bounding box (ink above :data:`INK_THRESHOLD`) is
    scaled to fit 20x20 with its aspect kept and placed in 28x28 with its
    centre of mass at the centre.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError("image.no_pixels")
    notes: list[Message] = []
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ground = float(np.median(border))
    if ground > 0.5:
        gray, ground = 1.0 - gray, 1.0 - ground
        notes.append(message("image.inverted"))
    contrast = float(gray.max()) - ground
    if contrast < MIN_CONTRAST:
        raise ImageError("image.flat" if gray.max() - gray.min() < MIN_CONTRAST else "image.low_contrast")
    ink = np.clip((gray - ground) / contrast, 0.0, 1.0)
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    return Digit(_place(_fit(crop)), tuple(notes))


def _fit(crop: np.ndarray) -> np.ndarray:
    """Scale ``crop`` so that its longer side is :data:`BOX` pixels, keeping its aspect."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _place(box: np.ndarray) -> np.ndarray:
    """Put ``box`` into a 28x28 field with its centre of mass at the field's centre (kept inside the field)."""
    h, w = box.shape
    total = float(box.sum())
    ys, xs = np.indices(box.shape)
    cy, cx = ((ys * box).sum() / total, (xs * box).sum() / total) if total else ((h - 1) / 2, (w - 1) / 2)
    centre = SIDE / 2  # where MNIST's digits have their centre of mass (pixel indices; 14.0 ± 0.3)
    top = int(np.clip(round(centre - cy), 0, SIDE - h))
    left = int(np.clip(round(centre - cx), 0, SIDE - w))
    field = np.zeros((SIDE, SIDE), np.float32)
    field[top:top + h, left:left + w] = box
    return field[..., np.newaxis]


def from_bytes(data: bytes) -> Digit:
    """An image file's bytes -> the digit the models see (:func:`decode`, then :func:`to_mnist`)."""
    gray, notes = decode(data)
    digit = to_mnist(gray)
    return Digit(digit.image, (*notes, *digit.notes))


__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "Digit", "ImageError", "decode", "from_bytes", "to_mnist"]
