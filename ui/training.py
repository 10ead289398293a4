"""Training on demand: what it will cost, the button, and the job's progress."""

from __future__ import annotations

import streamlit as st

from advdemo import presentation as text
from advdemo.config import HParams, TrainingAttack
from advdemo.data import TRAIN_SIZE, Mnist
from advdemo.service import JobState, ModelService, QueueError
from advdemo.storage import StoreError
from advdemo.training import expected_training_seconds, training_summary
from ui import state


def training_panel(svc: ModelService, mnist: Mnist, hparams: HParams) -> None:
    """Offer to train ``hparams`` (within the server's limits) and follow the job."""
    st.subheader(text.UNTRAINED)
    limits = svc.limits
    if not limits.enabled:
        st.error(text.TRAINING_OFF, icon="🚫")
        return
    if hparams.training_attack is not TrainingAttack.FGSM and not limits.robust:
        st.error(text.ROBUST_ONLY_PRETRAINED, icon="🚫")
        return
    bounded = svc.training_hparams(hparams)
    n_train = bounded.train_examples or len(mnist.train_labels) or TRAIN_SIZE
    st.write(text.training_plan(bounded.adv_total_epochs, n_train, training_summary(bounded),
                                expected_training_seconds(bounded, n_train)))
    job = svc.job(hparams)
    can_start = job is None or not job.state.active and job.state is not JobState.DONE
    problem = svc.training_data_problem() if can_start else None
    if problem:
        st.button("Train these models", type="primary", key="train", disabled=True, help=problem)
        st.warning(problem, icon="📂")
    elif can_start and st.button("Try training again" if job else "Train these models", type="primary",
                                 key="train"):
        try:
            svc.request_training(hparams, state.owner())
        except (StoreError, QueueError) as exc:
            st.warning(str(exc), icon="⏳")
    if svc.job(hparams) is not None:
        training_status(svc, hparams)


@st.fragment(run_every=1.0)
def training_status(svc: ModelService, hparams: HParams) -> None:
    """The job's state, redrawn every second; its owner can cancel it."""
    job = svc.job(hparams)
    if job is None:
        return
    if job.state is JobState.DONE:
        st.rerun()
    if job.state is JobState.FAILED:
        st.error(f"Training failed: {job.error}")
        return
    if job.state is JobState.CANCELLED:
        st.info(text.CANCELLED, icon="🛑")
        return
    if job.state is JobState.QUEUED:
        st.info(text.queued(job.position, job.wait_seconds), icon="⏳")
    else:
        fraction, label = text.training_progress(job.progress)
        st.progress(fraction, text=label)
    if job.owner == state.owner() and st.button("Cancel training", key="cancel_training"):
        svc.cancel_training(hparams, state.owner())
        st.rerun(scope="fragment")
