"""The lesson's buttons and texts, and its last step: a robust model trained live beside the shipped one."""

from __future__ import annotations

import streamlit as st

from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import LIVE_ROBUST, OVERFITTING, HParams, ModelKind, Norm
from advdemo.experiments.report import measured_row
from advdemo.experiments.stored import stored_entry
from advdemo.i18n import message
from advdemo.page import presentation as text
from advdemo.page.lesson import LESSON, SHIPPED_ROBUST
from advdemo.serving.service import ModelService, Pending
from advdemo.store.pairs import ModelPair
from advdemo.store.storage import model_id
from ui import state
from ui.results import jobs_status
from ui.training import live_probe


def lesson_buttons() -> None:
    """One button per step; the chosen step's text below them."""
    tr = state.tr()
    for column, (i, step) in zip(st.columns(len(LESSON)), enumerate(LESSON)):
        column.button(tr(step.title), key=f"lesson{i}", on_click=state.start_lesson_step, args=(i,),
                      use_container_width=True, type="primary" if st.session_state.lesson == i else "secondary")
    if st.session_state.lesson is not None:
        st.info(tr(LESSON[st.session_state.lesson].text), icon="🎓")


def trains_live(hparams: HParams) -> bool:
    """Whether ``hparams`` is the model a class trains on the page in the lesson's last step (reached by its
    button, or by a link to it)."""
    return hparams == LIVE_ROBUST


def live_step(svc: ModelService, pair: ModelPair | None) -> None:
    """The live model (``pair``; None until trained) beside the shipped PGD model, both at the live recipe's ε,
    and a training that collapsed, from its stored lines."""
    tr = state.tr()
    epsilon = float(LIVE_ROBUST.adv_epsilon or 0.0)
    shipped = svc.pair(SHIPPED_ROBUST)
    st.subheader(tr("live.title"))
    rows, pending = [], []
    for name, models, hp in (("live.shipped", shipped, SHIPPED_ROBUST), ("live.yours", pair, LIVE_ROBUST)):
        strong = None if models is None else svc.strong(models, Norm.INFINITY, epsilon, state.owner())
        if isinstance(strong, Pending):
            pending.append(strong)
        accuracies = strong.regularized if isinstance(strong, PairAccuracies) else None
        label = message(name, iterations=hp.adv_pgd_iterations, epochs=hp.adv_total_epochs, batch=hp.batch(True))
        rows.append(measured_row(label, None if models is None else models.regularized_entry, accuracies))
    table = text.compare_table(tr, rows, epsilon, caption=tr("live.caption", epsilon=epsilon))
    st.table(table.rows)
    st.caption(table.caption)
    if pending:
        jobs_status(svc, pending)
    collapsed = stored_entry(svc.stores, model_id(OVERFITTING, ModelKind.REGULARIZED))
    if collapsed is not None and collapsed.metrics.probe is not None:
        st.markdown(f"**{tr('live.collapse_title')}**")
        live_probe(collapsed.metrics.probe)
        st.caption(tr("live.collapse", step=OVERFITTING.adv_step_size, epsilon=OVERFITTING.adv_epsilon))
