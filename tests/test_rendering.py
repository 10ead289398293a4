"""Pictures: exact pixels where they are defined, structure where they are layout."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from advdemo.i18n import Language, catalogue, english
from advdemo.page.rendering import (
    WRONG_COLOR,
    cjk_font,
    digit_detail_html,
    digit_grid_html,
    digit_png,
    perturbation_png,
    side_by_side_html,
    tutorial_grid_png,
)


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def inline_images(fragment: str) -> list[Image.Image]:
    return [decode(base64.b64decode(b64)) for b64 in re.findall(r'src="data:image/png;base64,([^"]+)"', fragment)]


@pytest.fixture
def digits() -> np.ndarray:
    return np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)


def test_digit_png_holds_the_digit_pixels_exactly(digits):
    img = decode(digit_png(digits[0]))
    assert img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), np.round(digits[0, ..., 0] * 255).astype(np.uint8))


def test_digit_png_scales_by_repeating_pixels(digits):
    img = np.asarray(decode(digit_png(digits[1], scale=3)))
    assert img.shape == (84, 84)
    np.testing.assert_array_equal(img, np.asarray(decode(digit_png(digits[1]))).repeat(3, 0).repeat(3, 1))


def test_digit_png_clips_out_of_range_values():
    img = np.asarray(decode(digit_png(np.full((28, 28, 1), 2.0, np.float32) * np.sign(np.arange(784) % 2 - 0.5)
                                      .reshape(28, 28, 1).astype(np.float32))))
    assert set(np.unique(img)) == {0, 255}


def test_perturbation_png_maps_sign_to_color():
    delta = np.zeros((28, 28), np.float32)
    delta[0, 0], delta[0, 1], delta[0, 2] = 0.3, -0.3, 0.15
    rgb = np.asarray(decode(perturbation_png(delta, 0.3)))
    assert rgb.shape == (28, 28, 3)
    assert tuple(rgb[5, 5]) == (255, 255, 255)  # unchanged pixel: white
    assert tuple(rgb[0, 0]) == (178, 24, 43)  # full ink added: red
    assert tuple(rgb[0, 1]) == (33, 102, 172)  # full ink removed: blue
    assert tuple(rgb[0, 2]) == (217, 140, 149)  # half-way to red: (255 + 178) / 2, ...


def test_grid_html_counts_and_marks_wrong_predictions(digits):
    labels = np.array([1, 2, 3, 4])
    predictions = np.array([1, 0, 3, 9])
    fragment = digit_grid_html(digits, labels, predictions, "base <model>", n_col=2)
    assert 'data-correct="2"' in fragment and 'data-total="4"' in fragment
    assert "base &lt;model&gt;: 2 / 4" in fragment  # titles are escaped
    assert fragment.count(f"solid {WRONG_COLOR}") == 2
    assert "#2 true 3" in fragment and fragment.count('class="advdemo-tile"') == 4
    assert "repeat(2,1fr)" in fragment
    images = inline_images(fragment)
    assert len(images) == 4
    np.testing.assert_array_equal(np.asarray(images[3]), np.asarray(decode(digit_png(digits[3]))))


def test_detail_html_transfer_shows_one_perturbed_image_and_the_probabilities(digits):
    original, perturbed = digits[0], np.clip(digits[0] + 0.1, 0, 1)
    base_proba = np.eye(10, dtype=np.float32)[7]
    adv_proba = np.full(10, 0.05, np.float32)
    adv_proba[3] = 0.55
    fragment = digit_detail_html(original, perturbed, perturbed.copy(), 3, base_proba, adv_proba)
    assert 'data-label="3"' in fragment and 'data-base-pred="7"' in fragment and 'data-adv-pred="3"' in fragment
    assert [m for m in ("original (true 3)", "perturbed", "attack on base") if m in fragment] == [
        "original (true 3)", "perturbed"]
    assert len(inline_images(fragment)) == 3
    heights = [float(h) for h in re.findall(r"height:([0-9.]+)%", fragment)]
    assert len(heights) == 20  # a base and a regularized bar per class
    assert heights[2 * 7] == 100.0 and heights[2 * 3 + 1] == 55.0 and heights[2 * 3] == 0.0
    assert "base says 7 (100%)" in fragment and "regularized says 3 (55%)" in fragment
    assert "perturbation (±0.10)" in fragment


def test_detail_html_white_box_shows_both_attacks(digits):
    proba = np.full(10, 0.1, np.float32)
    fragment = digit_detail_html(digits[0], digits[1], digits[2], 5, proba, proba)
    assert "attack on base" in fragment and "attack on regularized" in fragment
    assert len(inline_images(fragment)) == 4


def test_detail_html_without_perturbation_does_not_divide_by_zero(digits):
    proba = np.full(10, 0.1, np.float32)
    fragment = digit_detail_html(digits[0], digits[0], digits[0], 5, proba, proba)
    white = np.asarray(inline_images(fragment)[1])
    assert (white == 255).all() and "no perturbation" in fragment


def test_figures_are_pngs(digits):
    grid = decode(tutorial_grid_png(digits, np.arange(4), np.arange(4), np.arange(4), n_col=2))
    assert grid.format == "PNG" and grid.size[0] > grid.size[1]  # 2 rows of 2 in a wide figure


def test_side_by_side_html_keeps_fragments_in_order():
    fragment = side_by_side_html("<p>left</p>", "<p>right</p>")
    assert fragment.index("left") < fragment.index("right") and "minmax(20rem,1fr)" in fragment


def test_chinese_pictures_fall_back_to_english_titles_without_a_chinese_font(digits, monkeypatch):
    from advdemo.page import rendering

    zh = catalogue(Language.ZH)
    monkeypatch.setattr(rendering, "cjk_font", lambda: None)
    assert rendering.needs_font_fallback(zh) and not rendering.needs_font_fallback(english())
    args = (digits, np.arange(4), np.arange(4), np.arange(4))
    assert tutorial_grid_png(*args, n_col=2, tr=zh) == tutorial_grid_png(*args, n_col=2, tr=english())


@pytest.mark.skipif(cjk_font() is None, reason="no Chinese font installed (apt-get install fonts-wqy-microhei)")
def test_chinese_pictures_have_chinese_titles_where_a_font_is_installed(digits):
    args = (digits, np.arange(4), np.arange(4), np.arange(4))
    chinese = decode(tutorial_grid_png(*args, n_col=2, tr=catalogue(Language.ZH)))
    english_png = decode(tutorial_grid_png(*args, n_col=2, tr=english()))
    assert chinese.format == "PNG" and chinese.tobytes() != english_png.tobytes()


def test_the_grid_speaks_the_readers_language(digits):
    labels, predictions = np.array([1, 2, 3, 4]), np.array([1, 2, 3, 0])
    fragment = digit_grid_html(digits, labels, predictions, "基础模型", tr=catalogue(Language.ZH))
    assert "基础模型：3 / 4" in fragment and "标签为 4，预测为 0（错误）" in fragment and "pred" not in fragment


def test_text_from_a_link_is_shown_as_code_never_as_markdown():
    from advdemo.i18n import english, message
    from advdemo.page.presentation import code_span, markdown_message
    from advdemo.page.viewstate import parse_query

    assert code_span("a`b") == "``a`b``" and code_span("`x`") == "`` `x` ``"
    _, [notice] = parse_query({"mode": "[click](https://evil.example) **x** ``"})
    shown = markdown_message(english(), notice)
    assert "```'[click](https://evil.example) **x** ``'```" in shown  # a fence longer than any run inside
    nested = message("url.invalid", name="x", value=parse_query({"eps": "*a*"})[1][0].fields[1][1],
                     expected=message("url.digit"))
    assert "`'*a*'`" in markdown_message(english(), nested)
