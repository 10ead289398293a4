"""advdemo's page: ``streamlit run app.py``.

This file only arranges widgets and calls the advdemo library; all computing
happens there. The whole view lives in the URL, so a link reproduces it.

The results live in fragments. Moving an attack or digit control reruns only
the results (and the digit slider only the detail view), not the whole page: a
class of students shares one small server, and each browser redraws only what
changed.
"""

from __future__ import annotations

import contextlib
import gc

import numpy as np
import streamlit as st

from advdemo import viewstate
from advdemo.config import (
    GRID_MULTIPLIERS,
    MAX_MULTIPLIER,
    MAX_TRAINING_PGD_ITERATIONS,
    NORM_SPECS,
    ROBUST_EPSILONS,
    AttackMethod,
    EvalMode,
    Norm,
    StrongEval,
    TrainingAttack,
    robust_pgd_iterations,
)
from advdemo.data import DataError
from advdemo.lesson import LESSON
from advdemo.rendering import curve_png, digit_detail_html, digit_grid_html, metrics_html, side_by_side_html
from advdemo.report import compare_methods, interval_text
from advdemo.robustness import describe_sign
from advdemo.service import JobState, Limits, ModelService
from advdemo.storage import StoreError
from advdemo.training import expected_training_seconds, training_summary
from advdemo.viewstate import GRID_SIZE, MAX_BATCH, MAX_PGD_ITERATIONS, ViewState

st.set_page_config(page_title="Adversarial regularization, live", page_icon="🛡️", layout="wide")

NORM_LABELS = {Norm.INFINITY: "L∞ (infinity)", Norm.L2: "L2", Norm.L1: "L1"}
HOW_FAR = {
    Norm.INFINITY: "every pixel moves by up to ε",
    Norm.L2: "the change has an L2 length of up to ε, spread over all 784 pixels",
    Norm.L1: "only the pixels with the largest gradient move, by ε in total",
}
SLIDER_STEP = {Norm.INFINITY: 0.01, Norm.L2: 0.1, Norm.L1: 0.05}
TRAINING_LABELS = {
    TrainingAttack.FGSM: "FGSM (the tutorial's)",
    TrainingAttack.FGSM_RS: "FGSM with random start",
    TrainingAttack.PGD: "PGD (Madry et al.)",
}
STRONG = StrongEval()


@st.cache_resource
def get_service() -> ModelService:
    """One per server process, shared by every session."""
    service = ModelService(limits=Limits.from_env())
    # TensorFlow leaves ~400,000 long-lived Python objects, and a full garbage collection walks
    # them all (~0.5 s on 2 cores). Freezing them keeps Python's own full collections cheap; the
    # per-rerun one is off in .streamlit/config.toml (runner.postScriptGC).
    gc.freeze()
    return service


# Figures depend only on their inputs; repeated views (a class on the same settings) reuse them.
cached_curve_png = st.cache_data(max_entries=256, show_spinner=False)(curve_png)


@st.cache_resource
def get_devices() -> list[str]:
    from advdemo.devices import describe_devices

    return describe_devices()


svc = get_service()

def show_view(view: ViewState) -> None:
    """Set every widget to ``view`` (before the widgets are drawn: at arrival, or in a callback)."""
    st.session_state.update(
        norm=view.norm.value, custom=not view.on_grid, step=view.step, mult=view.multiplier,
        attack=view.attack.value, anorm=view.attack_norm.value, eps=view.strength, iters=view.iterations,
        mode=view.mode.value, batch=view.batch, digit="all" if view.digit is None else str(view.digit),
        pick=view.pick, tattack=view.train_attack.value, teps=view.train_eps,
        titers=view.train_iters or robust_pgd_iterations(view.train_eps),
    )


# -- URL -> widgets, once per session -----------------------------------------
if "view_ready" not in st.session_state:
    raw = {name: st.query_params.get_all(name) for name in st.query_params}
    start, notices = viewstate.parse_query(raw)
    show_view(start)
    st.session_state.update(url_notices=notices, view_ready=True, lesson=None)


def snap_to_grid() -> None:
    """Move the training controls to the nearest pretrained values (the grid sliders' options)."""
    steps = NORM_SPECS[Norm(st.session_state.norm)].grid_steps
    if steps:  # L1 has no grid; its values stay as they are
        st.session_state.step = min(steps, key=lambda s: abs(s - st.session_state.step))
    st.session_state.mult = min(GRID_MULTIPLIERS, key=lambda m: abs(m - st.session_state.mult))
    st.session_state.teps = min(ROBUST_EPSILONS, key=lambda e: abs(e - st.session_state.teps))


def on_norm_change() -> None:
    norm = Norm(st.session_state.norm)
    st.session_state.step = NORM_SPECS[norm].default_step
    if not NORM_SPECS[norm].grid_steps:  # L1 has no pretrained grid
        st.session_state.custom = True
    if not st.session_state.custom:
        snap_to_grid()


def on_custom_change() -> None:
    if not st.session_state.custom:
        snap_to_grid()


def on_training_change() -> None:
    fgsm = TrainingAttack(st.session_state.tattack) is TrainingAttack.FGSM
    if fgsm and not NORM_SPECS[Norm(st.session_state.norm)].grid_steps:
        st.session_state.custom = True  # back to L1, which has no pretrained grid
    on_custom_change()


def start_lesson_step(i: int) -> None:
    show_view(LESSON[i].view)
    st.session_state.lesson = i


def on_attack_norm_change() -> None:
    norm = Norm(st.session_state.anorm)
    st.session_state.eps = NORM_SPECS[norm].default_step
    if not NORM_SPECS[norm].supports_pgd:
        st.session_state.attack = AttackMethod.FGSM.value


def current_view() -> ViewState:
    """The view the widgets show now. A control that was not drawn in the last run (PGD
    iterations under FGSM, say) has no state left, and counts as its default."""
    get, default = st.session_state.get, viewstate.DEFAULT
    digit = get("digit", "all")
    training = TrainingAttack(get("tattack", default.train_attack.value))
    custom_pgd = training is TrainingAttack.PGD and get("custom", False)
    return ViewState(
        train_attack=training, train_eps=round(float(get("teps", default.train_eps)), 4),
        train_iters=int(get("titers")) if custom_pgd and get("titers") else None,
        norm=Norm(get("norm", default.norm.value)), step=round(float(get("step", default.step)), 4),
        multiplier=round(float(get("mult", default.multiplier)), 4),
        attack=AttackMethod(get("attack", default.attack.value)),
        attack_norm=Norm(get("anorm", default.attack_norm.value)), strength=float(get("eps", default.strength)),
        iterations=int(get("iters", default.iterations)), mode=EvalMode(get("mode", default.mode.value)),
        batch=int(get("batch", default.batch)), digit=None if digit == "all" else int(digit),
        pick=int(get("pick", default.pick)),
    )


# -- sidebar, the model: changing it redraws the whole page --------------------
with st.sidebar:
    st.header("Regularized model")
    st.selectbox("Training attack", [t.value for t in TrainingAttack], key="tattack", on_change=on_training_change,
                 format_func=lambda v: TRAINING_LABELS[TrainingAttack(v)],
                 help="How NSL makes the adversarial examples the model trains on. FGSM: one gradient step "
                      "from the clean digit (the tutorial's). With random start: one step from a random point "
                      "of the ε ball. PGD: several projected steps. The robust ones are L∞.")
    training = TrainingAttack(st.session_state.tattack)
    norm = Norm(st.session_state.norm) if training is TrainingAttack.FGSM else Norm.INFINITY
    spec = NORM_SPECS[norm]
    if training is TrainingAttack.FGSM:
        st.selectbox("Gradient norm", [n.value for n in Norm], key="norm", on_change=on_norm_change,
                     format_func=lambda v: NORM_LABELS[Norm(v)],
                     help="The norm NSL uses to turn the loss gradient into an adversarial step.")
    st.checkbox("Custom values (trained on demand)", key="custom", on_change=on_custom_change,
                disabled=not spec.grid_steps,
                help="Off: the sliders snap to the pretrained models, so every position loads instantly.")
    if training is not TrainingAttack.FGSM:
        if st.session_state.custom:
            st.slider("ε ball (L∞)", 0.01, spec.max_step, step=0.01, key="teps", format="%.2f")
            if training is TrainingAttack.PGD:
                st.slider("PGD steps per batch", 2, MAX_TRAINING_PGD_ITERATIONS, key="titers")
        else:
            st.select_slider("ε ball (L∞)", options=list(ROBUST_EPSILONS), key="teps",
                             help="The budget the training attack may use; PGD projects back into it.")
    elif st.session_state.custom or not spec.grid_steps:
        st.slider("Adversarial step size", min_value=SLIDER_STEP[norm], max_value=spec.max_step,
                  step=SLIDER_STEP[norm], key="step", format="%.2f")
        st.slider("Adversarial loss multiplier", min_value=0.05, max_value=MAX_MULTIPLIER, step=0.05,
                  key="mult", format="%.2f")
    else:
        st.select_slider("Adversarial step size", options=list(spec.grid_steps), key="step",
                         help="How far the training-time adversarial examples move, in this norm's units.")
        st.select_slider("Adversarial loss multiplier", options=list(GRID_MULTIPLIERS), key="mult",
                         help="Weight of the adversarial loss next to the ordinary loss.")
    if training is not TrainingAttack.FGSM:
        st.caption(training_summary(current_view().hparams()))


def rerun_results() -> None:
    """Redraw only the results fragment: the model and the controls themselves stay as they are."""
    st.rerun("results")


# Streamlit forgets the value of a widget that is not drawn in a run. Re-setting it keeps the PGD
# iterations through a spell of FGSM.
if "iters" in st.session_state:
    st.session_state.iters = st.session_state.iters

# -- sidebar, the attack: strength, iterations, mode and digits redraw only the results --------
with st.sidebar:
    st.header("Attack")
    st.selectbox("Attack norm", [n.value for n in Norm], key="anorm", on_change=on_attack_norm_change,
                 format_func=lambda v: NORM_LABELS[Norm(v)])
    attack_norm = Norm(st.session_state.anorm)
    methods = [m.value for m in AttackMethod if m is AttackMethod.FGSM or NORM_SPECS[attack_norm].supports_pgd]
    st.radio("Method", methods, key="attack", horizontal=True, format_func=str.upper,
             help="FGSM: one gradient step (the tutorial's). PGD: several smaller steps, a stronger attack.")
    strengths = sorted({*NORM_SPECS[attack_norm].strengths, float(st.session_state.eps)})
    st.select_slider("Attack strength (ε)", options=strengths, key="eps", on_change=rerun_results)
    if st.session_state.attack == AttackMethod.PGD.value:
        st.slider("PGD iterations", 1, MAX_PGD_ITERATIONS, key="iters", on_change=rerun_results)
    st.radio("Mode", [m.value for m in EvalMode], key="mode", horizontal=True, on_change=rerun_results,
             help="Transfer (the tutorial's): examples crafted against the base model are shown to both. "
                  "White-box: each model is attacked through its own gradients.")

    st.header("Digits")
    st.number_input("Batch of 32 test digits", 0, MAX_BATCH, key="batch", on_change=rerun_results)
    st.selectbox("Only this true class", ["all", *map(str, range(10))], key="digit", on_change=rerun_results)


# -- main area ----------------------------------------------------------------
st.title("Adversarial regularization, live")
st.caption("The TensorFlow Neural Structured Learning tutorial *Adversarial regularization for image "
           "classification*, on MNIST: a base CNN next to a copy trained with adversarial regularization.")
for notice in st.session_state.url_notices:
    st.warning(notice, icon="🔗")
st.session_state.url_notices = []  # shown on arrival; gone once the user moves on

hparams = current_view().hparams(svc.recipe)
with st.expander("What am I looking at?", expanded=False):
    st.markdown(f"""
* **Adversarial examples** are digits changed just enough to fool a model. The attack nudges the
  pixels in the direction that most increases the model's error, within a budget ε: in L∞
  {HOW_FAR[Norm.INFINITY]}; in L2 {HOW_FAR[Norm.L2]}; in L1 {HOW_FAR[Norm.L1]}.
* The **base model** learned from clean digits only. The **regularized model** has the same network, but
  during training NSL also showed it adversarial versions of each batch ({training_summary(hparams)}) and
  penalized mistakes on them.
* In **transfer** mode both models see the *same* perturbed digits, crafted against the base model, as in
  the tutorial. **White-box** mode attacks each model through its own gradients. That should be the harder
  test; when a model does *better* against its own gradient, its gradient is misleading the attack
  (gradient masking), and the page warns you.
* **FGSM** takes one step. **PGD** takes many small steps, re-reading the gradient each time. The
  **worst case** counts a digit as robust only if no attack fools the model on it: transfer FGSM,
  white-box FGSM and white-box PGD ({STRONG.iterations} steps, {STRONG.restarts} random restarts).
* Red frames mark wrong answers. The tutorial's regularized model resists one FGSM step far better than
  the base model, but under PGD much of that lead disappears: it learned to resist the step it was trained
  on, not every change of size ε. Models trained on PGD examples (training attack *PGD*) keep most of it.
""")

with st.expander("A five-step lesson: is the regularized model really robust?",
                 expanded=st.session_state.lesson is not None):
    for column, (i, step) in zip(st.columns(len(LESSON)), enumerate(LESSON)):
        column.button(step.title, key=f"lesson{i}", on_click=start_lesson_step, args=(i,), use_container_width=True,
                      type="primary" if st.session_state.lesson == i else "secondary")
    if st.session_state.lesson is not None:
        st.info(LESSON[st.session_state.lesson].text, icon="🎓")

try:
    mnist = svc.mnist()
except DataError as exc:
    st.error(f"MNIST is not available, so there is nothing to show yet.\n\n{exc}", icon="📂")
    st.stop()

with st.spinner("Loading models…"):
    pair = svc.pair(hparams)
for note in svc.notes:  # e.g. a corrupt model file that was skipped
    st.info(note, icon="🧹")


@st.fragment(key="results")
def results(pair) -> None:
    """Everything the attack and digit controls change; ``pair`` is None while the models are untrained."""
    view = current_view()
    if pair is None:
        st.query_params.from_dict(viewstate.to_query(view))  # otherwise the detail view below does it
        return
    attack = view.to_attack()

    # Which 32 digits: a batch of the test set, optionally of one true class.
    pool = np.arange(len(mnist.test_labels)) if view.digit is None else np.flatnonzero(mnist.test_labels == view.digit)
    n_batches = max(1, len(pool) // GRID_SIZE)
    idx = pool[(view.batch % n_batches) * GRID_SIZE:][:GRID_SIZE]
    images, labels = mnist.test_images[idx], mnist.test_labels[idx]

    metrics_slot = st.container()
    shown = svc.attack_digits(pair, images, labels, attack)
    st.html(side_by_side_html(digit_grid_html(shown.base_images, labels, shown.base_pred, "base model"),
                              digit_grid_html(shown.adv_images, labels, shown.adv_pred, "adv-regularized model")))

    # Test-set numbers usually come from the manifest or memory; a spinner only when they do not.
    busy = contextlib.nullcontext() if svc.ready(pair, attack) else st.spinner("Measuring on the test set…")
    with metrics_slot, busy:
        m = svc.test_metrics(pair, attack)
        curve = svc.curve(pair, attack)
        label = f"{view.attack.value.upper()} ε={view.strength:g}"
        st.html(metrics_html([
            ("Base, clean", f"{m['base_clean_acc']:.1%}", None),
            (f"Base, {label}", f"{m['base_attacked_acc']:.1%}", (m["base_attacked_acc"] - m["base_clean_acc"]) * 100),
            ("Regularized, clean", f"{m['adv_clean_acc']:.1%}", None),
            (f"Regularized, {label}", f"{m['adv_attacked_acc']:.1%}",
             (m["adv_attacked_acc"] - m["adv_clean_acc"]) * 100),
        ]))
        st.caption(f"Accuracy on {m['examples']:,} test digits ({view.mode.value}). "
                   f"{NORM_LABELS[view.attack_norm]}: {HOW_FAR[view.attack_norm]} = {view.strength:g}.")
        worst_case(pair, view)

    st.subheader("One digit in detail")
    detail(images, labels, shown)

    st.subheader("Robustness curve")
    worst = svc.strong_curve(pair, view.attack_norm)
    st.image(cached_curve_png(curve, view.strength, f"attack strength ε ({NORM_LABELS[view.attack_norm]}, "
                              f"{view.attack.value.upper()}, {view.mode.value})", worst))
    st.caption(f"Solid: accuracy on {curve['examples']:,} test digits at each strength. "
               + (f"Dotted: the worst case over every attack, on the first {worst['examples']:,} digits. "
                  if worst else "") + "The dashed line is the current strength.")


def worst_case(pair, view: ViewState) -> None:
    """Both models' worst case at the current strength, with intervals and any masking warning."""
    if not NORM_SPECS[view.attack_norm].supports_pgd or view.strength == 0:
        return
    bar = None
    if not svc.strong_ready(pair, view.attack_norm, view.strength):
        bar = st.progress(0.0, text="Measuring the worst case (white-box PGD with restarts)…")

    def report(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Measuring the worst case: PGD restart {done} of {total}…")

    strong = svc.strong(pair, view.attack_norm, view.strength, progress=report if bar else None)
    if bar:
        bar.empty()
    st.html(metrics_html([
        ("Base, worst case", interval_text(strong.base.worst_case), None),
        ("Base, white-box PGD", f"{strong.base.whitebox_pgd.value:.1%}", None),
        ("Regularized, worst case", interval_text(strong.adv.worst_case), None),
        ("Regularized, white-box PGD", f"{strong.adv.whitebox_pgd.value:.1%}", None),
    ]))
    st.caption(f"Worst case: a digit counts only if no attack fools the model on it (transfer FGSM, white-box "
               f"FGSM, white-box PGD with {STRONG.iterations} steps and {STRONG.restarts} random restarts, and "
               "PGD at the smaller strengths of the curve). Measured on "
               + ("all" if strong.examples == len(mnist.test_labels) else "the first")
               + f" {strong.examples:,} test digits; ± is the 95% interval.")
    for sign in strong.signs():
        st.warning(describe_sign(sign), icon="⚠️")


@st.fragment
def detail(images: np.ndarray, labels: np.ndarray, shown) -> None:
    """The digit slider and one digit in detail; moving the slider reruns only this."""
    if len(labels) > 1:
        st.slider("Digit", 0, len(labels) - 1, key="pick")
    # Every run of the results ends here too, so this one write keeps the URL current for both.
    st.query_params.from_dict(viewstate.to_query(current_view()))
    pick = min(int(st.session_state.pick), len(labels) - 1)
    # Ring the chosen digit in both grids above, without redrawing them.
    st.html(f"<style>.advdemo-grid .advdemo-tile:nth-child({pick + 1})"
            "{outline:3px solid #f2c94c;outline-offset:1px}</style>")
    st.html(digit_detail_html(images[pick], shown.base_images[pick], shown.adv_images[pick], int(labels[pick]),
                              shown.base_proba[pick], shown.adv_proba[pick]))


@st.fragment(run_every=1.0)
def training_status() -> None:
    job = svc.job(hparams)
    if job is None:
        return
    if job.state is JobState.DONE:
        st.rerun()
    if job.state is JobState.FAILED:
        st.error(f"Training failed: {job.error}")
        return
    if job.state is JobState.QUEUED:
        st.info(f"The trainer is busy with another configuration; this one is number {job.position} "
                "in the queue. The page stays usable, and will update by itself.", icon="⏳")
        return
    p = job.progress
    if p is None:
        st.progress(0.0, text="Starting training…")
        return
    name = "base model" if p.model == "base" else "regularized model"
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(p.metrics.items()) if k in ("loss", "acc"))
    st.progress(min(1.0, p.fraction),
                text=f"Training the {name}: epoch {p.epoch}/{p.epochs}, step {p.step}/{p.steps} · {metrics}")


results(pair)

if pair is None:
    st.subheader("These models are not trained yet")
    limits = svc.limits
    if not limits.enabled:
        st.error("Training on demand is switched off on this server. Untick *Custom values* to pick a "
                 "pretrained configuration.", icon="🚫")
        st.stop()
    if hparams.training_attack is not TrainingAttack.FGSM and not limits.robust:
        st.error("This server offers only the pretrained robust models (ε ball "
                 f"{', '.join(map(str, ROBUST_EPSILONS))}). Untick *Custom values* to pick one.", icon="🚫")
        st.stop()
    bounded = svc.training_hparams(hparams)
    n_train = bounded.train_examples or len(mnist.train_labels)
    st.write(f"Training runs in the background: {bounded.adv_total_epochs} epochs on {n_train:,} training "
             f"digits ({training_summary(bounded)}), base model first if needed. Expected time: about "
             f"{expected_training_seconds(bounded, n_train) / 60:.0f} minutes on a 2-core CPU. Afterwards the "
             "models are stored, so the next visit is instant.")
    job = svc.job(hparams)
    can_start = job is None or job.state is JobState.FAILED
    if can_start and st.button("Try training again" if job else "Train these models", type="primary", key="train"):
        try:
            svc.request_training(hparams)
        except StoreError as exc:
            st.error(str(exc))
    training_status()
    st.stop()

st.subheader("Compare training methods")
compare_eps = st.select_slider("ε ball (L∞) of the comparison", options=list(ROBUST_EPSILONS),
                               value=ROBUST_EPSILONS[1], key="compare_eps")
rows = compare_methods(svc.stores, svc.recipe, compare_eps)
st.table([{"training": r.name,
           "clean": "–" if r.clean is None else f"{r.clean:.1%}",
           f"transfer FGSM ε {compare_eps:g}": "–" if r.transfer_fgsm is None else f"{r.transfer_fgsm:.1%}",
           "white-box PGD": "–" if r.whitebox_pgd is None else interval_text(r.whitebox_pgd),
           "worst case": "–" if r.worst_case is None else interval_text(r.worst_case),
           "digits (PGD)": "–" if r.worst_case is None else f"{r.worst_case.n:,}",
           "training time": r.training_time()}
          for r in rows])
st.caption("Clean and transfer FGSM on all 10,000 test digits; white-box PGD and the worst case on the first "
           "*digits (PGD)* test digits, ± the 95% interval. Training times on a 2-core CPU. '–': not stored.")

with st.expander("Where these numbers come from"):
    for kind, entry in (("base", pair.base_entry), ("adv", pair.adv_entry)):
        name = "Base model" if kind == "base" else "Regularized model"
        st.markdown(f"**{name}** `{entry['id']}`: {pair.sources[kind]}, trained in "
                    f"{entry['train_seconds']:.0f} s ({entry['hparams']['epochs']} epochs, batch "
                    f"{entry['hparams']['batch_size']}), SHA-256 `{entry['sha256'][:12]}…`, "
                    f"TensorFlow {entry['versions']['tensorflow']}.")
    st.markdown(f"**Computing on:** {', '.join(get_devices())}")
