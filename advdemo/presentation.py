"""What the page says: labels, explanations and figures formatted as text.

The page (``app.py`` and ``ui/``) only places these on the screen, so every
word and number format lives here, next to the results it describes, and is
testable without a browser. Accuracies are fractions in [0, 1] throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from advdemo.config import ROBUST_EPSILONS, ModelKind, Norm, StrongEval, TrainingAttack
from advdemo.own_digit import Flip
from advdemo.pairs import ModelPair
from advdemo.report import MethodRow, interval_text
from advdemo.results import Curve, Evaluation
from advdemo.robustness import PairAccuracies, wilson_interval
from advdemo.training import Progress
from advdemo.viewstate import ViewState

TITLE = "Adversarial regularization, live"
SUBTITLE = ("The TensorFlow Neural Structured Learning tutorial *Adversarial regularization for image "
            "classification*, on MNIST: a base CNN next to a copy trained with adversarial regularization.")
WHAT = "What am I looking at?"
LESSON = "A five-step lesson: is the regularized model really robust?"
LOADING = "Loading models…"
COMPARE_EPSILON = "ε ball (L∞) of the comparison"
PROVENANCE = "Where these numbers come from"
DETAIL = "One digit in detail"
CURVE = "Robustness curve"
OWN_DIGIT = "Your own digit"
COMPARE = "Compare training methods"
UNTRAINED = "These models are not trained yet"
DIGIT_SLIDER = "Digit"
#: The two grids' titles (the tutorial's names).
GRID_TITLES = {ModelKind.BASE: "base model", ModelKind.REGULARIZED: "adv-regularized model"}
NORM_LABELS = {Norm.INFINITY: "L∞ (infinity)", Norm.L2: "L2", Norm.L1: "L1"}
HOW_FAR = {
    Norm.INFINITY: "every pixel moves by up to ε",
    Norm.L2: "the change has an L2 length of up to ε, spread over all 784 pixels",
    Norm.L1: "only the pixels with the largest gradient move, by ε in total",
}
TRAINING_LABELS = {
    TrainingAttack.FGSM: "FGSM (the tutorial's)",
    TrainingAttack.FGSM_RS: "FGSM with random start",
    TrainingAttack.PGD: "PGD (Madry et al.)",
}
MODEL_NAMES = {ModelKind.BASE: "Base", ModelKind.REGULARIZED: "Regularized"}
#: The models' names in figures and their legends (the tutorial's).
CURVE_NAMES = {ModelKind.BASE: "base", ModelKind.REGULARIZED: "adv-regularized"}

#: ``(label, value, change in percentage points or None)``: one figure of the page.
Figure = tuple[str, str, float | None]


def explanation(hparams_summary: str, strong: StrongEval = StrongEval()) -> str:
    """The "What am I looking at?" text (Markdown); ``hparams_summary`` describes the regularized model's training."""
    return f"""
* **Adversarial examples** are digits changed just enough to fool a model. The attack nudges the
  pixels in the direction that most increases the model's error, within a budget ε: in L∞
  {HOW_FAR[Norm.INFINITY]}; in L2 {HOW_FAR[Norm.L2]}; in L1 {HOW_FAR[Norm.L1]}.
* The **base model** learned from clean digits only. The **regularized model** has the same network, but
  during training NSL also showed it adversarial versions of each batch ({hparams_summary}) and
  penalized mistakes on them.
* In **transfer** mode both models see the *same* perturbed digits, crafted against the base model, as in
  the tutorial. **White-box** mode attacks each model through its own gradients. That should be the harder
  test; when a model does *better* against its own gradient, its gradient is misleading the attack
  (gradient masking), and the page warns you.
* **FGSM** takes one step. **PGD** takes many small steps, re-reading the gradient each time. The
  **worst case** counts a digit as robust only if no attack fools the model on it: transfer FGSM,
  white-box FGSM and white-box PGD ({strong.iterations} steps, {strong.restarts} random restarts).
* ✗ and a vermillion frame mark a wrong answer, ✓ and green a right one. The tutorial's regularized
  model resists one FGSM step far better than the base model, but under PGD much of that lead
  disappears: it learned to resist the step it was trained on, not every change of size ε. Models
  trained on PGD examples (training attack *PGD*) keep most of it.
"""


def attack_label(view: ViewState) -> str:
    return f"{view.attack.value.upper()} ε={view.strength:g}"


def accuracy_figures(ev: Evaluation, view: ViewState) -> list[Figure]:
    """Clean and attacked accuracy of both models, the attacked ones with their drop."""
    figures: list[Figure] = []
    for kind in ModelKind:
        figures.append((f"{MODEL_NAMES[kind]}, clean", f"{ev.clean.of(kind):.1%}", None))
        figures.append((f"{MODEL_NAMES[kind]}, {attack_label(view)}", f"{ev.attacked.of(kind):.1%}",
                        -ev.drop(kind) * 100))
    return figures


def accuracy_caption(ev: Evaluation, view: ViewState) -> str:
    return (f"Accuracy on {ev.examples:,} test digits ({view.mode.value}). "
            f"{NORM_LABELS[view.attack_norm]}: {HOW_FAR[view.attack_norm]} = {view.strength:g}.")


def worst_case_figures(strong: PairAccuracies) -> list[Figure]:
    figures: list[Figure] = []
    for kind, acc in ((ModelKind.BASE, strong.base), (ModelKind.REGULARIZED, strong.regularized)):
        figures.append((f"{MODEL_NAMES[kind]}, worst case", interval_text(acc.worst_case), None))
        figures.append((f"{MODEL_NAMES[kind]}, white-box PGD", f"{acc.whitebox_pgd.value:.1%}", None))
    return figures


def worst_case_caption(strong: PairAccuracies, test_size: int, cfg: StrongEval = StrongEval()) -> str:
    which = "all" if strong.examples == test_size else "the first"
    return (f"Worst case: a digit counts only if no attack fools the model on it (transfer FGSM, white-box "
            f"FGSM, white-box PGD with {cfg.iterations} steps and {cfg.restarts} random restarts, and "
            f"PGD at the smaller strengths of the curve). Measured on {which} {strong.examples:,} test digits; "
            "± is the 95% interval.")


def strong_progress(done: int, total: int) -> tuple[float, str]:
    """A progress bar's fraction in [0, 1] and its text while the worst case is measured."""
    if total == 0:
        return 0.0, "Measuring the worst case (white-box PGD with restarts)…"
    return done / total, f"Measuring the worst case: PGD restart {done} of {total}…"


def curve_axis(view: ViewState) -> str:
    return (f"attack strength ε ({NORM_LABELS[view.attack_norm]}, "
            f"{view.attack.value.upper()}, {view.mode.value})")


def curve_caption(curve: Curve, worst: Curve | None, test_size: int, seeds: int = 0) -> str:
    """What the curve shows; a curve on part of the test set says how far its points may be off, and
    ``seeds`` (the number of seeds with stored curves, if more than one) that the bars are their range."""
    if curve.examples < test_size:
        low, high = wilson_interval(curve.examples // 2, curve.examples)  # the widest interval, at 50%
        solid = (f"Solid: accuracy on the first {curve.examples:,} test digits at each strength "
                 f"(measured now; each point within ±{(high - low) * 50:.1f} points, 95%). ")
    else:
        solid = f"Solid: accuracy on all {curve.examples:,} test digits at each strength. "
    bars = (f"Bars: the lowest to the highest accuracy of this configuration trained from {seeds} seeds, "
            "the noise of one training run. " if seeds > 1 else "")
    return (solid + (f"Dotted: the worst case over every attack, on the first {worst.examples:,} digits. "
                     if worst else "") + bars + "The dashed line is the current strength.")


def measuring_progress(done: int, total: int) -> tuple[float, str]:
    """A progress bar's fraction and text while a model pair is measured: the figures, then the curve."""
    if total == 0:
        return 0.0, "Measuring on the test set…"
    return done / total, f"Measuring the robustness curve: {done} of {total} points…"


@dataclass(frozen=True)
class CompareTable:
    """The "Compare training methods" table: one dict per row, its columns in order, and a caption."""

    rows: list[dict[str, str]]
    caption: str


def compare_table(rows: list[MethodRow], epsilon: float) -> CompareTable:
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.1%}"

    table = [{"training": r.name, "clean": pct(r.clean), f"transfer FGSM ε {epsilon:g}": pct(r.transfer_fgsm),
              "white-box PGD": "–" if r.whitebox_pgd is None else interval_text(r.whitebox_pgd),
              "worst case": "–" if r.worst_case is None else interval_text(r.worst_case),
              "digits (PGD)": "–" if r.worst_case is None else f"{r.worst_case.n:,}",
              "training time": r.training_time()}
             for r in rows]
    return CompareTable(table, "Clean and transfer FGSM on all 10,000 test digits; white-box PGD and the worst case "
                               "on the first *digits (PGD)* test digits, ± the 95% interval. Training times on a "
                               "2-core CPU. '–': not stored.")


def provenance(pair: ModelPair) -> list[str]:
    """One Markdown line per model: id, source, training time and recipe, hash, TensorFlow version."""
    lines = []
    for kind in ModelKind:
        entry = pair.entry(kind)
        lines.append(f"**{MODEL_NAMES[kind]} model** `{entry['id']}`: {pair.sources[kind]}, trained in "
                     f"{entry['train_seconds']:.0f} s ({entry['hparams']['epochs']} epochs, batch "
                     f"{entry['hparams']['batch_size']}), SHA-256 `{entry['sha256'][:12]}…`, "
                     f"TensorFlow {entry['versions']['tensorflow']}.")
    return lines


def training_plan(epochs: int, n_train: int, summary: str, seconds: float) -> str:
    return (f"Training runs in the background: {epochs} epochs on {n_train:,} training digits ({summary}), "
            f"base model first if needed. Expected time: about {seconds / 60:.0f} minutes on a 2-core CPU. "
            "Afterwards the models are stored, so the next visit is instant.")


def training_progress(p: Progress | None) -> tuple[float, str]:
    """A progress bar's fraction in [0, 1] and its text for a running training job."""
    if p is None:
        return 0.0, "Starting training…"
    name = "base model" if p.model is ModelKind.BASE else "regularized model"
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(p.metrics.items()) if k in ("loss", "acc"))
    return (min(1.0, p.fraction),
            f"Training the {name}: epoch {p.epoch}/{p.epochs}, step {p.step}/{p.steps} · {metrics}")


def queued(position: int, wait_seconds: float) -> str:
    minutes = max(1, round(wait_seconds / 60))
    return (f"The trainer is busy with another configuration; this one is number {position} in the queue "
            f"and should start in about {minutes} minute{'s' if minutes > 1 else ''}. The page stays usable, "
            "and will update by itself.")


CANCELLED = "Training was cancelled; nothing was stored. Start it again whenever you like."


OWN_DIGIT_INTRO = ("Draw a digit with the mouse (or a finger), or upload a photo of one, and watch both models "
                    "and the attack from the sidebar on it. Your digit stays in this browser tab: it is not part "
                    "of the page's link, and nothing is stored.")
DOWNLOAD_GRIDS = "Grids (PNG)"
DOWNLOAD_CSV = "Numbers (CSV)"
DOWNLOAD_JSON = "Numbers (JSON)"
RESET = "Reset to the tutorial's settings"
COPY_LINK = "Copy link"
COPY_LINK_HELP = "This link opens the page exactly as it is now (your own digit stays private)."
OWN_DIGIT_CURVE = ("The test set's robustness curve; the triangles mark where each model changes its answer on "
                   "your digit.")
EMPTY_CANVAS = "The canvas is empty: draw one digit in the black box, large and centred, as on paper."
UPLOAD_HELP = ("One digit per image, PNG, JPEG, GIF, BMP or WebP. It is made into a 28×28 MNIST digit: grayscale, "
               "inverted if dark on light, scaled to fit 20×20 and centred by its mass.")


def no_data(reason: str) -> str:
    return f"MNIST is not available, so there is nothing to show yet.\n\n{reason}"


def devices(names: list[str]) -> str:
    return f"**Computing on:** {', '.join(names)}"


def flip_text(name: str, flip: Flip) -> str:
    """How far the attack has to go before ``name``'s answer changes, with the search's resolution."""
    if flip.strength is None:
        return f"The {name} keeps its answer up to ε {flip.searched_to:g}."
    if flip.strength == 0:
        return f"The {name} is wrong on your digit before any attack."
    return f"The {name} changes its answer at ε {flip.strength:g} (searched in steps of {flip.resolution:.3g})."


ROBUST_ONLY_PRETRAINED = ("This server offers only the pretrained robust models (ε ball "
                          f"{', '.join(map(str, ROBUST_EPSILONS))}). Untick *Custom values* to pick one.")
TRAINING_OFF = ("Training on demand is switched off on this server. Untick *Custom values* to pick a "
                "pretrained configuration.")
