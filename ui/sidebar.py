"""The sidebar's three blocks. Each draws its widgets and returns what they now say."""

from __future__ import annotations

import streamlit as st

from advdemo.config import (
    GRID_MULTIPLIERS,
    MAX_MULTIPLIER,
    MAX_TRAINING_PGD_ITERATIONS,
    NORM_SPECS,
    ROBUST_EPSILONS,
    AttackMethod,
    EvalMode,
    HParams,
    Norm,
    TrainingAttack,
)
from advdemo.presentation import NORM_LABELS, TRAINING_LABELS
from advdemo.training import training_summary
from advdemo.viewstate import CUSTOM, GRID_SIZE, MAX_BATCH, MAX_PGD_ITERATIONS, ViewState
from ui import state

#: Slider resolution per norm, in that norm's units.
SLIDER_STEP = {Norm.INFINITY: 0.01, Norm.L2: 0.1, Norm.L1: 0.05}
#: The multiplier slider's resolution (custom values).
MULTIPLIER_STEP = 0.05


def model_controls(recipe: HParams) -> HParams:
    """How the regularized model is trained; changing it redraws the whole page. Returns its configuration."""
    st.header("Regularized model")
    st.selectbox("Training attack", [t.value for t in TrainingAttack], key="tattack",
                 on_change=state.on_training_change,
                 format_func=lambda v: TRAINING_LABELS[TrainingAttack(v)],
                 help="How NSL makes the adversarial examples the model trains on. FGSM: one gradient step "
                      "from the clean digit (the tutorial's). With random start: one step from a random point "
                      "of the ε ball. PGD: several projected steps. The robust ones are L∞.")
    training = TrainingAttack(st.session_state.tattack)
    norm = Norm(st.session_state.norm) if training is TrainingAttack.FGSM else Norm.INFINITY
    spec = NORM_SPECS[norm]
    if training is TrainingAttack.FGSM:
        st.selectbox("Gradient norm", [n.value for n in Norm], key="norm", on_change=state.on_norm_change,
                     format_func=lambda v: NORM_LABELS[Norm(v)],
                     help="The norm NSL uses to turn the loss gradient into an adversarial step.")
    st.checkbox("Custom values (trained on demand)", key=CUSTOM, on_change=state.on_custom_change,
                disabled=not spec.grid_steps,
                help="Off: the sliders snap to the pretrained models, so every position loads instantly.")
    custom = st.session_state[CUSTOM] or not spec.grid_steps
    if training is not TrainingAttack.FGSM:
        if custom:
            st.slider("ε ball (L∞)", SLIDER_STEP[norm], spec.max_step, step=SLIDER_STEP[norm], key="teps",
                      format="%.2f")
            if training is TrainingAttack.PGD:
                st.slider("PGD steps per batch", 2, MAX_TRAINING_PGD_ITERATIONS, key="titers")
        else:
            st.select_slider("ε ball (L∞)", options=list(ROBUST_EPSILONS), key="teps",
                             help="The budget the training attack may use; PGD projects back into it.")
    elif custom:
        st.slider("Adversarial step size", min_value=SLIDER_STEP[norm], max_value=spec.max_step,
                  step=SLIDER_STEP[norm], key="step", format="%.2f")
        st.slider("Adversarial loss multiplier", min_value=MULTIPLIER_STEP, max_value=MAX_MULTIPLIER,
                  step=MULTIPLIER_STEP, key="mult", format="%.2f")
    else:
        st.select_slider("Adversarial step size", options=list(spec.grid_steps), key="step",
                         help="How far the training-time adversarial examples move, in this norm's units.")
        st.select_slider("Adversarial loss multiplier", options=list(GRID_MULTIPLIERS), key="mult",
                         help="Weight of the adversarial loss next to the ordinary loss.")
    hparams = state.current().hparams(recipe)
    if training is not TrainingAttack.FGSM:
        st.caption(training_summary(hparams))
    return hparams


def attack_controls() -> None:
    """The attack: strength, iterations and mode redraw only the results."""
    st.header("Attack")
    st.selectbox("Attack norm", [n.value for n in Norm], key="anorm", on_change=state.on_attack_norm_change,
                 format_func=lambda v: NORM_LABELS[Norm(v)])
    attack_norm = Norm(st.session_state.anorm)
    methods = [m.value for m in AttackMethod if m is AttackMethod.FGSM or NORM_SPECS[attack_norm].supports_pgd]
    st.radio("Method", methods, key="attack", horizontal=True, format_func=str.upper,
             help="FGSM: one gradient step (the tutorial's). PGD: several smaller steps, a stronger attack.")
    strengths = sorted({*NORM_SPECS[attack_norm].strengths, float(st.session_state.eps)})
    st.select_slider("Attack strength (ε)", options=strengths, key="eps", on_change=state.rerun_results)
    if st.session_state.attack == AttackMethod.PGD.value:
        st.slider("PGD iterations", 1, MAX_PGD_ITERATIONS, key="iters", on_change=state.rerun_results)
    st.radio("Mode", [m.value for m in EvalMode], key="mode", horizontal=True, on_change=state.rerun_results,
             help="Transfer (the tutorial's): examples crafted against the base model are shown to both. "
                  "White-box: each model is attacked through its own gradients.")


def digit_controls() -> ViewState:
    """Which test digits the grids show. Returns the whole view as the widgets now say it."""
    st.header("Digits")
    st.number_input(f"Batch of {GRID_SIZE} test digits", 0, MAX_BATCH, key="batch", on_change=state.rerun_results)
    st.selectbox("Only this true class", ["all", *map(str, range(10))], key="digit", on_change=state.rerun_results)
    return state.current()
