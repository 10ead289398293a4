"""Drawn and uploaded digits: MNIST's preprocessing, and every kind of bad image."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from advdemo.core import digitize
from advdemo.core.digitize import ImageError, from_bytes, to_mnist


def png(array: np.ndarray, **save) -> bytes:
    """PNG bytes of a uint8 array: grayscale ``(H, W)`` or RGBA ``(H, W, 4)``."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", **save)
    return buffer.getvalue()


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    img = np.squeeze(image)
    ys, xs = np.indices(img.shape)
    return float((ys * img).sum() / img.sum()), float((xs * img).sum() / img.sum())


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(np.squeeze(image) > digitize.INK_THRESHOLD)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


# -- MNIST's preprocessing ---------------------------------------------------------------------

def test_a_centred_square_stays_centred_and_fills_the_20_pixel_box():
    gray = np.zeros((100, 100), np.float32)
    gray[30:70, 30:70] = 1.0
    digit = to_mnist(gray).image
    assert digit.shape == (28, 28, 1) and digit.dtype == np.float32
    assert 0.0 <= digit.min() and digit.max() <= 1.0
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert ink_box(digit) == (20, 20)


def test_a_shifted_digit_is_recentred_by_its_mass():
    gray = np.zeros((200, 200), np.float32)
    gray[10:60, 130:150] = 1.0  # a bar in the top-right corner
    gray[10:20, 150:190] = 1.0  # with a heavy arm: the mass is not the box's middle
    digit = to_mnist(gray).image
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_the_aspect_ratio_is_kept():
    gray = np.zeros((300, 300), np.float32)
    gray[50:250, 130:180] = 1.0  # 200 tall, 50 wide: 4 to 1
    h, w = ink_box(to_mnist(gray).image)
    assert h == 20 and w == 5


def test_dark_ink_on_light_paper_is_inverted_and_said_so():
    gray = np.ones((50, 50), np.float32)
    gray[10:40, 20:30] = 0.0
    digit = to_mnist(gray)
    assert digit.image[14, 14, 0] > 0.9 and digit.image[0, 0, 0] == 0.0
    assert any("inverted" in str(note) for note in digit.notes)


def test_mnist_test_digits_pass_through_the_upload_path_unchanged(mnist, pretrained_pair):
    """1,000 test digits as PNG bytes in: both models answer as on the originals for >= 99% of them."""
    from advdemo.core.evaluation import predict

    x = mnist.test_images[:1000]
    uploaded = np.stack([from_bytes(png((img[..., 0] * 255).round().astype(np.uint8))).image for img in x])
    for model in pretrained_pair:
        assert np.mean(predict(model, uploaded) == predict(model, x)) >= 0.99


@pytest.fixture(scope="module")
def pretrained_pair():
    from advdemo.core.config import FAST_RECIPE, ModelKind
    from advdemo.store.storage import PRETRAINED_DIR, ModelStore, model_id

    if not (PRETRAINED_DIR / "manifest.json").exists():
        pytest.skip("no pretrained models")
    store = ModelStore(PRETRAINED_DIR, writable=False)
    return [store.load(model_id(FAST_RECIPE, kind))[0] for kind in ModelKind]


# -- bad input: each gets one clear sentence --------------------------------------------------

def bad_images() -> dict[str, tuple[bytes, str]]:
    """Every bad input the page must survive: ``name: (file bytes, a regex the message matches)``."""
    blank_canvas = png(np.zeros((280, 280, 4), np.uint8))  # what an untouched canvas returns
    uniform = png(np.full((64, 64), 128, np.uint8))
    huge = io.BytesIO()
    Image.new("1", (8000, 8000)).save(huge, "PNG")  # 8000x8000 compresses to a few kB
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    truncated = png(digit)[:-40]
    return {
        "empty canvas": (blank_canvas, r"flat colour"),
        "uniform image": (uniform, r"flat colour"),
        "8000x8000 image": (huge.getvalue(), r"8000×8000 pixels; the limit"),
        "over the upload limit": (b"\x89PNG" + bytes(digitize.MAX_UPLOAD_BYTES), r"the limit is 2 MB"),
        "not an image, named .png": (b"name,score\nada,3\n" * 50, r"not an image that can be read"),
        "truncated PNG": (truncated, r"damaged or incomplete"),
        "empty file": (b"", r"empty"),
    }


@pytest.mark.parametrize("name", list(bad_images()))
def test_bad_input_gets_one_clear_sentence(name, tmp_path, monkeypatch):
    data, message = bad_images()[name]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageError, match=message) as caught:
        from_bytes(data)
    text = str(caught.value)
    assert text.count(". ") == 0 and text.endswith(".") and "\n" not in text  # one sentence
    assert os.listdir(tmp_path) == []  # nothing written


def good_variants() -> dict[str, tuple[bytes, str | None]]:
    """Images in unusual formats that hold a usable digit: ``name: (bytes, a note the user gets or None)``."""
    ink = np.zeros((56, 56), np.uint8)
    ink[10:46, 24:32] = 255  # a "1", light on dark
    paper = 255 - ink  # dark on light

    def save(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
        buffer = io.BytesIO()
        img.save(buffer, fmt, **kw)
        return buffer.getvalue()

    frames = [Image.fromarray(ink), Image.fromarray(np.zeros_like(ink))]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    transparent = np.zeros((56, 56, 4), np.uint8)
    transparent[..., 3] = 255 - paper  # black strokes on a transparent sheet
    cmyk = Image.fromarray(paper).convert("CMYK")
    rotated = np.zeros((56, 56), np.uint8)
    rotated[24:32, 10:46] = 255  # lying on its side, upright once the EXIF orientation is applied
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    neutral = Image.new("L", (56, 56), 128)
    lab = Image.merge("LAB", [Image.fromarray(paper), neutral, neutral])  # CIELAB, which Pillow cannot convert
    return {
        "CIELAB TIFF": (save(lab, "TIFF"), "inverted"),
        "16-bit grayscale": (save(Image.fromarray(ink.astype(np.uint16) * 257)), None),
        "CMYK JPEG": (save(cmyk, "JPEG", quality=95), "inverted"),
        "palette PNG": (save(Image.fromarray(paper).convert("P")), "inverted"),
        "transparent PNG": (save(Image.fromarray(transparent)), "inverted"),
        "animated GIF": (animated.getvalue(), "first frame"),
        "photo with an EXIF rotation": (save(Image.fromarray(rotated).convert("RGB"), "JPEG", exif=exif), None),
    }


@pytest.mark.parametrize("name", list(good_variants()))
def test_unusual_formats_become_the_same_upright_digit(name):
    data, note = good_variants()[name]
    digit = from_bytes(data)
    h, w = ink_box(digit.image)
    assert h == 20 and w < 10, (h, w)  # an upright "1": tall and narrow, whatever the file's format
    if note:
        assert any(note in str(n) for n in digit.notes), digit.notes


def test_every_pillow_mode_becomes_gray_in_range_or_one_sentence():
    ink = np.zeros((28, 28), np.uint8)
    ink[4:24, 12:16] = 255
    for mode in Image.MODES:
        try:
            image = Image.fromarray(ink).convert(mode)
        except ValueError:  # Pillow cannot make this mode from gray: an empty image of it then
            image = Image.new(mode, (28, 28))
        try:
            gray = digitize._grayscale(image)
        except ImageError as exc:
            assert exc.message.key.startswith("image."), mode
            continue
        assert gray.shape == (28, 28) and gray.dtype == np.float32, mode
        assert 0.0 <= gray.min() <= gray.max() <= 1.0, mode


def test_the_upload_limit_is_the_one_streamlit_enforces():
    import tomllib  # Python 3.11+

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == digitize.MAX_UPLOAD_BYTES


def test_messages_name_no_paths():
    for data, _ in bad_images().values():
        with pytest.raises(ImageError) as caught:
            from_bytes(data)
        assert not re.search(r"/|\\\\", str(caught.value))
