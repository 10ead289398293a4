"""advdemo's page: ``streamlit run app.py``.

This file only arranges the page; the widgets live in ``ui/``, and all
computing and wording in the advdemo library. The whole view lives in the URL,
so a link reproduces it.
"""

from __future__ import annotations

import streamlit as st

from advdemo.core.config import ROBUST_EPSILONS
from advdemo.core.data import DataError
from advdemo.core.training import training_summary
from advdemo.experiments.report import compare_methods
from advdemo.logs import LOGGER
from advdemo.page import presentation as text
from ui import sidebar, state
from ui.lesson import lesson_buttons, live_step, trains_live
from ui.results import results
from ui.shared import get_devices, get_service, whole_page
from ui.training import live_probe, training_panel

svc = get_service()
state.arrive()
state.keep_hidden_values()
st.set_page_config(page_title=state.tr()("page.title"), page_icon="🛡️", layout="wide")


@whole_page
def page() -> None:
    """The whole page; training on demand waits while it runs, and sessions' first runs take turns."""
    tr = state.tr()
    with st.sidebar:
        sidebar.language_control()
        hparams = sidebar.model_controls(svc.recipe)
        sidebar.attack_controls()
        sidebar.digit_controls()

    st.title(tr("page.title"))
    st.caption(tr("page.subtitle"))
    for notice in state.url_notices():
        st.warning(text.markdown_message(tr, notice), icon="🔗")

    with st.expander(tr("page.what"), expanded=False):
        st.markdown(text.explanation(tr, training_summary(hparams, tr)))

    with st.expander(tr("page.lesson"), expanded=st.session_state.lesson is not None):
        lesson_buttons()

    try:
        mnist = svc.mnist()
    except DataError as exc:
        LOGGER.error("no MNIST test set: %s", exc)
        st.error(tr("page.no_data") if svc.limits.hosted else f"{tr('page.no_data')}\n\n{exc}", icon="📂")
        return

    with st.spinner(tr("page.loading")):
        pair = svc.pair(hparams)
    # A corrupt model file that was skipped, say: its path is for the operator, never on a hosted page.
    notes = svc.notes
    if notes and svc.limits.hosted:
        st.info(tr("page.store_note_hosted"), icon="🧹")
    for note in [] if svc.limits.hosted else notes:
        st.info(tr("page.store_note", detail=note), icon="🧹")

    results(svc, mnist, pair)

    if pair is None:
        training_panel(svc, mnist, hparams)
    if trains_live(hparams):
        live_step(svc, pair)
    if pair is None:
        return

    st.subheader(tr("page.compare"))
    compare_eps = st.select_slider(tr("page.compare_epsilon"), options=list(ROBUST_EPSILONS),
                                   value=ROBUST_EPSILONS[1], key="compare_eps")
    table = text.compare_table(tr, compare_methods(svc.stores, svc.recipe, compare_eps), compare_eps)
    st.table(table.rows)
    st.caption(table.caption)

    with st.expander(tr("page.provenance")):
        for line in text.provenance(tr, pair):
            st.markdown(line)
        st.markdown(text.devices(tr, get_devices()))
        grown = pair.regularized_entry.metrics.probe
        if grown is not None:
            st.markdown(f"**{tr('probe.stored')}**")
            live_probe(grown)


page()
