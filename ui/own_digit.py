"""Your own digit: draw or upload one, and see both models and the current attack on it.

The drawing lives only in this session's widgets: it never enters the URL,
and nothing is written to disk.
"""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from advdemo.core.config import ModelKind
from advdemo.core.digitize import ImageError, from_bytes
from advdemo.core.results import Curve
from advdemo.memo import array_digest
from advdemo.page import presentation as text
from advdemo.page.charts import HEIGHT as CHART_HEIGHT
from advdemo.page.charts import curve_spec
from advdemo.page.rendering import digit_detail_html, prediction_html
from advdemo.page.viewstate import ViewState
from advdemo.serving.own_digit import clean_probabilities
from advdemo.serving.service import ModelService
from advdemo.store.pairs import ModelPair
from ui import state
from ui.shared import interactive

CANVAS_SIDE = 280  # ten screen pixels per MNIST pixel
STROKE = 20  # about MNIST's stroke width at that scale
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]


def _image_bytes() -> bytes | None:
    """The chosen source's image bytes, or None (with the reason shown) when there is nothing to use yet."""
    tr = state.tr()
    source = st.radio(tr("own.source"), ["draw", "upload"], format_func=lambda v: tr(f"own.{v}"), horizontal=True,
                      key="own_source", label_visibility="collapsed")
    if source == "draw":
        canvas = st_canvas(stroke_width=STROKE, stroke_color="#FFFFFF", background_color="#000000",
                           height=CANVAS_SIDE, width=CANVAS_SIDE, drawing_mode="freedraw", return_image_data=True,
                           key="own_canvas")
        if not (canvas.json_data or {}).get("objects"):
            st.caption(tr("own.empty_canvas"))
            return None
        return canvas.image_bytes
    upload = st.file_uploader(tr("own.upload_label"), type=UPLOAD_TYPES, key="own_upload", help=tr("own.upload_help"))
    return upload.getvalue() if upload is not None else None


@st.fragment
@interactive
def own_digit(svc: ModelService, pair: ModelPair, curve: Curve | None) -> None:
    """The section; a stroke or an upload reruns only this. ``curve`` is the page's current robustness curve
    (None while it is being measured: the flips are then said in words only)."""
    view: ViewState = state.current()
    tr = state.tr()
    st.caption(tr("own.intro"))
    left, right = st.columns([1, 2], gap="large")
    with left:
        data = _image_bytes()
        if not data:
            return
        try:
            digit = from_bytes(data)
        except ImageError as exc:
            st.warning(tr(exc.message), icon="🖼️")
            return
        for note in digit.notes:
            st.caption(tr(note))
        base_clean, _ = clean_probabilities(pair, digit.image)
        digest = array_digest(digit.image).hex()
        # A new digit starts from the base model's answer; the user corrects it if the model is wrong.
        label = st.selectbox(tr("own.which"), range(10), index=int(base_clean.argmax()),
                             key=f"own_label_{digest}")
    report = svc.measurements.own_digit(pair, digit.image, int(label), view.to_attack())
    with right:
        st.html(prediction_html(report.image, report.label, report.base_clean_proba, report.regularized_clean_proba,
                                tr))
        st.markdown(tr("own.under_attack", attack=text.attack_label(tr, view), mode=text.mode_label(tr, view)))
        st.html(digit_detail_html(report.image, report.attacked.base_images[0],
                                  report.attacked.regularized_images[0], report.label,
                                  report.attacked.base_proba[0], report.attacked.regularized_proba[0], tr))
        st.markdown(f"{text.flip_text(tr, ModelKind.BASE, report.base_flip)}  \n"
                    f"{text.flip_text(tr, ModelKind.REGULARIZED, report.regularized_flip)}")
        if curve is None:
            return
        st.vega_lite_chart(spec=curve_spec(curve, view.strength, text.curve_axis(tr, view), tr, None,
                                           (report.base_flip.strength, report.regularized_flip.strength)),
                           width="stretch", height=CHART_HEIGHT, alt=tr("own.curve"))
        st.caption(tr("own.curve"))
