"""The sidebar's three blocks. Each draws its widgets and returns what they now say."""

from __future__ import annotations

import streamlit as st

from advdemo.core.config import (
    GRID_MULTIPLIERS,
    MAX_EPOCHS,
    MAX_MULTIPLIER,
    MAX_TRAINING_PGD_ITERATIONS,
    NORM_SPECS,
    ROBUST_BATCH_SIZES,
    ROBUST_EPSILONS,
    TRAINING_SPECS,
    AttackMethod,
    EvalMode,
    HParams,
    Norm,
    TrainingAttack,
)
from advdemo.core.training import training_summary
from advdemo.i18n import LANGUAGE_NAMES, Language
from advdemo.page import presentation as text
from advdemo.page.viewstate import CUSTOM, GRID_SIZE, MAX_BATCH, MAX_PGD_ITERATIONS, UNTARGETED, ViewState
from ui import state

#: Slider resolution per norm, in that norm's units.
SLIDER_STEP = {Norm.INFINITY: 0.01, Norm.L2: 0.1, Norm.L1: 0.05}
#: The multiplier slider's resolution (custom values).
MULTIPLIER_STEP = 0.05


def language_control() -> None:
    """The page's language; a change redraws the whole page in it (and goes into the URL)."""
    st.selectbox(state.tr()("page.language"), [lang.value for lang in Language], key=state.LANGUAGE,
                 format_func=lambda v: LANGUAGE_NAMES[Language(v)])


def model_controls(recipe: HParams) -> HParams:
    """How the regularized model is trained; changing it redraws the whole page. Returns its configuration."""
    tr = state.tr()
    st.header(tr("sidebar.model"))
    st.selectbox(tr("sidebar.training_attack"), [t.value for t in TrainingAttack], key="tattack",
                 on_change=state.on_training_change, format_func=lambda v: tr(f"training_attack.{v}"),
                 help=tr("sidebar.training_attack_help"))
    training = TRAINING_SPECS[TrainingAttack(st.session_state.tattack)]
    robust = training.robust
    norm = Norm.INFINITY if robust else Norm(st.session_state.norm)
    spec = NORM_SPECS[norm]
    if not robust:
        st.selectbox(tr("sidebar.norm"), [n.value for n in Norm], key="norm", on_change=state.on_norm_change,
                     format_func=lambda v: tr(f"norm.{v}"), help=tr("sidebar.norm_help"))
    st.checkbox(tr("sidebar.custom"), key=CUSTOM, on_change=state.on_custom_change, disabled=not spec.grid_steps,
                help=tr("sidebar.custom_help"))
    custom = st.session_state[CUSTOM] or not spec.grid_steps
    if robust:
        if custom:
            st.slider(tr("sidebar.ball"), SLIDER_STEP[norm], spec.max_step, step=SLIDER_STEP[norm], key="teps",
                      format="%.2f", help=tr("sidebar.ball_help"))
            if training.iterative:
                st.slider(tr("sidebar.training_pgd_steps"), 2, MAX_TRAINING_PGD_ITERATIONS, key="titers")
            st.slider(tr("sidebar.training_epochs"), 1, MAX_EPOCHS, key="tepochs",
                      help=tr("sidebar.training_epochs_help"))
            st.select_slider(tr("sidebar.training_batch"), options=list(ROBUST_BATCH_SIZES), key="tbatch",
                             help=tr("sidebar.training_batch_help"))
        else:
            st.select_slider(tr("sidebar.ball"), options=list(ROBUST_EPSILONS), key="teps",
                             help=tr("sidebar.ball_help"))
    elif custom:
        st.slider(tr("sidebar.step"), min_value=SLIDER_STEP[norm], max_value=spec.max_step,
                  step=SLIDER_STEP[norm], key="step", format="%.2f", help=tr("sidebar.step_help"))
        st.slider(tr("sidebar.multiplier"), min_value=MULTIPLIER_STEP, max_value=MAX_MULTIPLIER,
                  step=MULTIPLIER_STEP, key="mult", format="%.2f", help=tr("sidebar.multiplier_help"))
    else:
        st.select_slider(tr("sidebar.step"), options=list(spec.grid_steps), key="step", help=tr("sidebar.step_help"))
        st.select_slider(tr("sidebar.multiplier"), options=list(GRID_MULTIPLIERS), key="mult",
                         help=tr("sidebar.multiplier_help"))
    hparams = state.current().hparams(recipe)
    if robust:
        st.caption(training_summary(hparams, tr))
    return hparams


def attack_controls() -> None:
    """The attack: strength, iterations and mode redraw only the results."""
    tr = state.tr()
    st.header(tr("sidebar.attack"))
    st.selectbox(tr("sidebar.attack_norm"), [n.value for n in Norm], key="anorm",
                 on_change=state.on_attack_norm_change, format_func=lambda v: tr(f"norm.{v}"))
    attack_norm = Norm(st.session_state.anorm)
    methods = AttackMethod.for_norm(attack_norm)
    st.radio(tr("sidebar.method"), [m.value for m in methods], key="attack", horizontal=True,
             format_func=lambda v: tr(f"attack_method.{v}"), help=text.method_help(tr, methods))
    strengths = sorted({*NORM_SPECS[attack_norm].strengths, float(st.session_state.eps)})
    st.select_slider(tr("sidebar.strength"), options=strengths, key="eps", on_change=state.rerun_results)
    if AttackMethod(st.session_state.attack).spec.iterative:
        st.slider(tr("sidebar.pgd_iterations"), 1, MAX_PGD_ITERATIONS, key="iters", on_change=state.rerun_results)
    st.radio(tr("sidebar.mode"), [m.value for m in EvalMode], key="mode", horizontal=True,
             on_change=state.rerun_results, format_func=lambda v: tr(f"mode.{v}"), help=tr("sidebar.mode_help"))
    st.selectbox(tr("sidebar.target"), [UNTARGETED, *map(str, range(10))], key="target",
                 on_change=state.rerun_results, help=tr("sidebar.target_help"),
                 format_func=lambda v: tr("sidebar.untargeted") if v == UNTARGETED else v)


def digit_controls() -> ViewState:
    """Which test digits the grids show. Returns the whole view as the widgets now say it."""
    tr = state.tr()
    st.header(tr("sidebar.digits"))
    st.number_input(tr("sidebar.batch", size=GRID_SIZE), 0, MAX_BATCH, key="batch", on_change=state.rerun_results)
    st.selectbox(tr("sidebar.digit_class"), ["all", *map(str, range(10))], key="digit",
                 format_func=lambda v: tr("sidebar.all_classes") if v == "all" else v, on_change=state.rerun_results)
    return state.current()
