"""Training on demand: what it will cost, the button, and the job's progress."""

from __future__ import annotations

import streamlit as st

from advdemo.core.config import HParams, LiveProbe
from advdemo.core.data import TRAIN_SIZE, Mnist
from advdemo.core.probe import probe_attack
from advdemo.core.results import ProbeHistory
from advdemo.core.training import Progress, training_summary
from advdemo.page import presentation as text
from advdemo.page.charts import HEIGHT as CHART_HEIGHT
from advdemo.page.charts import probe_spec
from advdemo.serving.estimates import estimate
from advdemo.serving.service import JobState, ModelService, QueueError
from advdemo.store.storage import StoreError
from ui import state


def training_panel(svc: ModelService, mnist: Mnist, hparams: HParams) -> None:
    """Offer to train ``hparams`` (within the server's limits) and follow the job."""
    tr = state.tr()
    st.subheader(tr("page.untrained"))
    limits = svc.limits
    if not limits.enabled:
        st.error(tr("training.off"), icon="🚫")
        return
    if not limits.allows(hparams):
        st.error(text.robust_refused(tr, limits.robust_seconds), icon="🚫")
        return
    bounded = svc.training_hparams(hparams)
    n_train = bounded.train_examples or len(mnist.train_labels) or TRAIN_SIZE
    st.write(text.training_plan(tr, bounded.adv_total_epochs, n_train, training_summary(bounded, tr),
                                estimate(svc.stores, bounded, n_train)))
    job = svc.job(hparams)
    can_start = job is None or not job.state.active and job.state is not JobState.DONE
    problem = svc.training_data_problem() if can_start else None
    if problem:
        st.button(tr("training.train"), type="primary", key="train", disabled=True, help=tr(problem))
        st.warning(tr(problem), icon="📂")
    elif can_start and st.button(tr("training.again" if job else "training.train"), type="primary", key="train"):
        try:
            svc.request_training(hparams, state.owner())
        except QueueError as exc:
            st.warning(tr(exc.message), icon="⏳")
        except StoreError as exc:  # the server's model store; its message is for the operator
            st.warning(str(exc), icon="⏳")
    if svc.job(hparams) is not None:
        training_status(svc, hparams, min(LiveProbe().examples, len(mnist.test_labels)))


@st.fragment(run_every=1.0)
def training_status(svc: ModelService, hparams: HParams, probe_examples: int) -> None:
    """The job's state, redrawn every second; its owner can cancel it."""
    job = svc.job(hparams)
    if job is None:
        return
    tr = state.tr()
    if job.state is JobState.DONE:
        st.rerun()
    if job.state is JobState.FAILED:
        st.error(tr("training.failed_hosted") if svc.limits.hosted else tr("training.failed", error=job.error))
        return
    if job.state is JobState.CANCELLED:
        st.info(tr("training.cancelled"), icon="🛑")
        return
    if job.state is JobState.QUEUED:
        st.info(text.queued(tr, job.position, job.wait_seconds), icon="⏳")
    else:
        progress = job.progress if isinstance(job.progress, Progress) else None
        fraction, label = text.training_progress(tr, progress, job.left_seconds)
        st.progress(fraction, text=label)
        if progress is not None and progress.probe:
            live_probe(ProbeHistory(*probe_attack(svc.training_hparams(hparams)), probe_examples, progress.probe),
                       progress.epochs)
    if job.owner == state.owner() and st.button(tr("training.cancel"), key="cancel_training"):
        svc.cancel_training(hparams, state.owner())
        st.rerun(scope="fragment")


def live_probe(history: ProbeHistory, epochs: int | None = None) -> None:
    """The regularized model's robustness after each epoch so far (or of its whole training, once stored)."""
    tr = state.tr()
    st.vega_lite_chart(spec=probe_spec(history, tr, epochs), width="stretch", height=CHART_HEIGHT,
                       alt=tr("probe.stored"))
    st.caption(text.probe_caption(tr, history))
