"""The results: grids, figures, one digit in detail and the curve, redrawn without the rest of the page.

Moving an attack or digit control reruns only the ``results`` fragment (and the
digit slider only the detail view), not the whole page: a class of students
shares one small server, and each browser redraws only what changed.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import NORM_SPECS, ModelKind
from advdemo.core.data import Mnist
from advdemo.core.evaluation import Attacked
from advdemo.core.masking import describe_sign, pair_signs
from advdemo.core.results import Curve, Evaluation
from advdemo.page import presentation as text
from advdemo.page import viewstate
from advdemo.page.charts import HEIGHT as CHART_HEIGHT
from advdemo.page.charts import curve_spec
from advdemo.page.export import results_csv, results_json
from advdemo.page.rendering import (
    digit_detail_html,
    digit_grid_html,
    needs_font_fallback,
    side_by_side_html,
    tutorial_grid_png,
)
from advdemo.page.viewstate import ViewState
from advdemo.serving.service import ModelService, Pending
from advdemo.store.pairs import ModelPair
from ui import state
from ui.own_digit import own_digit
from ui.shared import interactive


@st.fragment(key="results")
@interactive
def results(svc: ModelService, mnist: Mnist, pair: ModelPair | None) -> None:
    """Everything the attack and digit controls change; ``pair`` is None while the models are untrained."""
    view, tr = state.current(), state.tr()
    reset, link, _ = st.columns([2, 1, 3])
    reset.button(tr("page.reset"), key="reset", icon="↩️", on_click=state.reset)
    if st.session_state.pop(state.REDRAW_PAGE, False):
        st.rerun()  # the model controls sit outside this fragment: the whole page redraws
    with link.popover(tr("page.copy_link"), icon="🔗"):
        st.code(state.share_url(), language=None, wrap_lines=True)  # its copy button puts the link on the clipboard
        st.caption(tr("page.copy_link_help"))
    if pair is None:
        state.write_url()  # otherwise the detail view below does it
        return
    attack = view.to_attack()
    idx = view.digit_indices(mnist.test_labels)
    images, labels = mnist.test_images[idx], mnist.test_labels[idx]

    owner = state.owner()
    # On a phone the grids come first (PHONE_LAYOUT): the figures would push them two screens down.
    st.html(PHONE_LAYOUT)
    top = st.container(key="results_top")
    metrics_slot = top.container(key="figures")
    shown = svc.measurements.attack_digits(pair, images, labels, attack)
    top.container(key="grids").html(side_by_side_html(
        *(digit_grid_html(attacked, labels, predictions, tr(text.GRID_TITLE_KEYS[kind]), tr=tr)
          for kind, attacked, predictions in ((ModelKind.BASE, shown.base_images, shown.base_pred),
                                              (ModelKind.REGULARIZED, shown.regularized_images,
                                               shown.regularized_pred)))))

    # Every number comes at once: stored, or a job's placeholder that fills itself in (never measured here).
    ev = svc.test_metrics(pair, attack, owner)
    curve = svc.curve(pair, attack, owner)
    with metrics_slot:
        if isinstance(ev, Evaluation):
            show_figures(text.accuracy_figures(tr, ev, view))
            st.caption(text.accuracy_caption(tr, ev, view))
        else:
            st.caption(tr("jobs.waiting"))
        strong = worst_case(svc, mnist, pair, view, owner)
        pending = [p for p in (ev, curve, strong) if isinstance(p, Pending)]
        if pending:
            jobs_status(svc, pending)

    st.subheader(tr("page.detail"))
    detail(images, labels, shown)

    st.subheader(tr("page.curve"))
    if not isinstance(curve, Curve):
        st.caption(tr("jobs.waiting"))
    else:
        worst = svc.measurements.strong_curve(pair, view.attack_norm)
        seeds = svc.measurements.seed_curves(pair, attack)
        caption = text.curve_caption(tr, curve, worst, len(mnist.test_labels), len(seeds))
        st.vega_lite_chart(spec=curve_spec(curve, view.strength, text.curve_axis(tr, view), tr, worst, seeds=seeds),
                           width="stretch", height=CHART_HEIGHT, alt=caption)
        st.caption(caption)
        if isinstance(ev, Evaluation):
            downloads(view, ev, curve, worst, strong if isinstance(strong, PairAccuracies) else None, labels, shown)

    st.subheader(tr("page.own_digit"))
    own_digit(svc, pair, curve if isinstance(curve, Curve) else None)


@st.fragment(run_every=2.0)
def jobs_status(svc: ModelService, pending: list[Pending]) -> None:
    """The numbers still being measured: each one's place in the queue or progress, redrawn every two seconds.

    Not run under :func:`ui.shared.interactive`: polling must not stop the very jobs it waits for.
    Once any of them is measured, the page redraws with it.
    """
    tr = state.tr()
    now = [svc.measure(p.task, state.owner()) for p in pending]
    if any(not isinstance(p, Pending) for p in now):
        st.rerun()
    for p in now:
        fraction, words = text.job_status(tr, p, svc.failure_text(p.job))
        if fraction is None:
            st.warning(words, icon="⏳")
        else:
            st.progress(fraction, text=words)


#: Narrow screens (phones): the grids above the figures, and the figures two to a row, smaller.
PHONE_LAYOUT = """<style>@media (max-width: 640px) {
  .st-key-results_top { display: flex; flex-direction: column; }
  .st-key-results_top > div:has(> .st-key-grids) { order: -1; }
  .st-key-figures [data-testid="stHorizontalBlock"] { flex-wrap: wrap; gap: 0.25rem 1rem; }
  .st-key-figures [data-testid="stColumn"] { flex: 1 1 calc(50% - 1rem) !important; min-width: calc(50% - 1rem); }
  .st-key-figures [data-testid="stMetricValue"] { font-size: 1.6rem; }
}</style>"""


def show_figures(figures: list[text.Figure]) -> None:
    """A row of figures as ``st.metric``: label, value, and the change in points (a fall shows red, with ↓)."""
    tr = state.tr()
    for column, (label, value, change) in zip(st.columns(len(figures)), figures):
        column.metric(label, value, None if change is None else text.points(tr, change))


def downloads(view: ViewState, ev: Evaluation, curve: Curve, worst: Curve | None, strong: PairAccuracies | None,
              labels: np.ndarray, shown: Attacked) -> None:
    """The grids as PNG (drawn only when asked for), the numbers as CSV and JSON."""
    tr = state.tr()
    name = f"advdemo-{view.attack.value}-{view.attack_norm.value}-{view.strength:g}-{view.mode.value}"
    grids, table, data = st.columns(3)
    # Each file is made only when asked for: most slider moves download nothing.
    grids.download_button(tr("page.download_grids"), lambda: tutorial_grid_png(
        shown.base_images, labels, shown.base_pred, shown.regularized_pred, tr=tr), f"{name}.png", "image/png",
        on_click="ignore", icon="🖼️", help=tr("page.no_cjk_font") if needs_font_fallback(tr) else None)
    table.download_button(tr("page.download_csv"), lambda: results_csv(ev, view.strength, curve, worst, strong),
                          f"{name}.csv", "text/csv", on_click="ignore", icon="📄")
    data.download_button(tr("page.download_json"), lambda: results_json(
        viewstate.to_query(view), ev, view.strength, curve, worst, strong), f"{name}.json", "application/json",
        on_click="ignore", icon="📄")


def worst_case(svc: ModelService, mnist: Mnist, pair: ModelPair, view: ViewState,
               owner: str) -> PairAccuracies | Pending | None:
    """Both models' worst case at the current strength, with intervals and any masking warning
    (or its job, while it is measured; None where no strong evaluation applies)."""
    if not NORM_SPECS[view.attack_norm].supports_pgd or view.strength == 0:
        return None
    tr = state.tr()
    strong = svc.strong(pair, view.attack_norm, view.strength, owner)
    if isinstance(strong, Pending):
        return strong
    show_figures(text.worst_case_figures(tr, strong))
    st.caption(text.worst_case_caption(tr, strong, len(mnist.test_labels)))
    for sign in pair_signs(strong):
        st.warning(describe_sign(sign, tr), icon="⚠️")
    return strong


@st.fragment
@interactive
def detail(images: np.ndarray, labels: np.ndarray, shown: Attacked) -> None:
    """The digit slider and one digit in detail; moving the slider reruns only this."""
    tr = state.tr()
    if len(labels) > 1:
        st.slider(tr("page.digit_slider"), 0, len(labels) - 1, key="pick")
    # Every run of the results ends here too, so this one write keeps the URL current for both.
    state.write_url()
    pick = min(int(st.session_state.pick), len(labels) - 1)
    # Ring the chosen digit in both grids above, without redrawing them.
    st.html(f"<style>.advdemo-grid .advdemo-tile:nth-child({pick + 1})"
            "{outline:3px solid #f2c94c;outline-offset:1px}</style>")
    st.html(digit_detail_html(images[pick], shown.base_images[pick], shown.regularized_images[pick],
                              int(labels[pick]), shown.base_proba[pick], shown.regularized_proba[pick], tr))
