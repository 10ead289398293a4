"""What the page says: labels, explanations and figures formatted as text.

The page (``app.py`` and ``ui/``) only places these on the screen, so every
number format lives here, next to the results it describes, and is testable
without a browser. The words come from the language's catalogue
(:mod:`advdemo.i18n`, ``advdemo/locales/*.toml``): every function takes the
reader's :class:`~advdemo.i18n.Catalogue` as ``tr``. Accuracies are fractions
in [0, 1] throughout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from advdemo.core.accuracies import PairAccuracies, wilson_interval
from advdemo.core.config import (
    NORM_SPECS,
    ROBUST_EPSILONS,
    AttackMethod,
    AutoAttackEval,
    LiveProbe,
    ModelKind,
    Norm,
    StrongEval,
)
from advdemo.core.results import Curve, Evaluation, Flip, ProbeHistory
from advdemo.core.training import Progress
from advdemo.experiments.report import MethodRow
from advdemo.i18n import Catalogue, Message, Verbatim, duration, message, minutes
from advdemo.page.viewstate import ViewState
from advdemo.serving.estimates import Estimate
from advdemo.serving.jobs import PACE_KNOWN, JobState
from advdemo.serving.service import Pending
from advdemo.store.pairs import ModelPair

#: The models' short names (figures, provenance) and the tutorial's names (grid titles), as catalogue keys.
MODEL_KEYS = {ModelKind.BASE: "model.base", ModelKind.REGULARIZED: "model.regularized"}
GRID_TITLE_KEYS = {ModelKind.BASE: "model.base_long", ModelKind.REGULARIZED: "model.regularized_long"}
#: The models' names inside a sentence ("Training the base model", "the regularized model keeps its answer").
IN_TEXT_KEYS = {ModelKind.BASE: "model.base_in_text", ModelKind.REGULARIZED: "model.regularized_in_text"}

#: ``(label, value, change in percentage points or None)``: one figure of the page.
Figure = tuple[str, str, float | None]


def code_span(text: str) -> str:
    """``text`` as a Markdown code span: shown as it is, never as formatting, a link or an autolink."""
    fence = "`" * (1 + max((len(run) for run in re.findall("`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_message(tr: Catalogue, msg: Message) -> str:
    """``msg`` in ``tr``'s language for a place that renders Markdown: its :class:`~advdemo.i18n.Verbatim`
    fields (text from a link) become code spans, at any depth."""
    def safe(value):
        if isinstance(value, Verbatim):
            return code_span(value)
        if isinstance(value, Message):
            return Message(value.key, tuple((k, safe(v)) for k, v in value.fields))
        return value

    return tr(safe(msg))


def norm_label(tr: Catalogue, norm: Norm) -> str:
    return tr(f"norm.{norm.value}")


def explanation(tr: Catalogue, hparams_summary: str, strong: StrongEval = StrongEval()) -> str:
    """The "What am I looking at?" text (Markdown); ``hparams_summary`` describes the regularized model's training."""
    return tr("explanation.text", summary=hparams_summary, iterations=strong.iterations, restarts=strong.restarts,
              **{f"how_far_{norm.value}": tr(f"how_far.{norm.value}") for norm in Norm})


def method_help(tr: Catalogue, methods: Sequence[AttackMethod]) -> str:
    """One paragraph per attack offered: its name and what it does (the method radio's help)."""
    return "\n\n".join(tr("sidebar.method_line", name=tr(f"attack_method.{m.value}"),
                       help=tr(f"attack_method_help.{m.value}")) for m in methods)


def attack_label(tr: Catalogue, view: ViewState) -> str:
    return tr("figures.attack", method=tr(f"attack_method.{view.attack.value}"), strength=view.strength)


def mode_label(tr: Catalogue, view: ViewState) -> str:
    return tr(f"mode.{view.mode.value}")


def accuracy_figures(tr: Catalogue, ev: Evaluation, view: ViewState) -> list[Figure]:
    """Clean and attacked accuracy of both models, the attacked ones with their drop; under a targeted attack,
    the share of the other classes' digits each model reads as the target instead."""
    figures: list[Figure] = []
    for kind in ModelKind:
        model = tr(MODEL_KEYS[kind])
        figures.append((tr("figures.clean", model=model), f"{ev.clean.of(kind):.1%}", None))
        if ev.hits is not None:
            figures.append((tr("figures.hits", model=model, attack=attack_label(tr, view), target=view.target),
                            f"{ev.hits.of(kind):.1%}", None))
        else:
            figures.append((tr("figures.attacked", model=model, attack=attack_label(tr, view)),
                            f"{ev.attacked.of(kind):.1%}", -ev.drop(kind) * 100))
    return figures


def points(tr: Catalogue, change: float) -> str:
    """A change in percentage points, e.g. ``"-12.3 pts"``."""
    return tr("figures.points", change=change)


def accuracy_caption(tr: Catalogue, ev: Evaluation, view: ViewState) -> str:
    caption = tr("figures.accuracy_caption", examples=ev.examples, mode=mode_label(tr, view),
                 norm=norm_label(tr, view.attack_norm), how_far=tr(f"how_far.{view.attack_norm.value}"),
                 strength=view.strength)
    if ev.hits is None or view.target is None:
        return caption
    return caption + " " + tr("figures.hits_caption", target=view.target)


def worst_case_figures(tr: Catalogue, strong: PairAccuracies) -> list[Figure]:
    figures: list[Figure] = []
    for kind, acc in ((ModelKind.BASE, strong.base), (ModelKind.REGULARIZED, strong.regularized)):
        model = tr(MODEL_KEYS[kind])
        figures.append((tr("figures.worst_case", model=model), acc.worst_case.text(), None))
        figures.append((tr("figures.whitebox_pgd", model=model), f"{acc.whitebox_pgd.value:.1%}", None))
    return figures


def worst_case_caption(tr: Catalogue, strong: PairAccuracies, test_size: int,
                       cfg: StrongEval = StrongEval(), autoattack: AutoAttackEval = AutoAttackEval()) -> str:
    """Which attacks stand behind the worst case, and on how many digits it was measured."""
    if strong.regularized.autoattack:
        where = tr("figures.all_digits" if strong.examples == test_size else "figures.first_digits",
                   examples=strong.examples)
        square = (tr("figures.square", queries=autoattack.square_queries) if strong.regularized.square is not None
                  else tr("figures.no_square"))
        return tr("figures.autoattack_caption", iterations=cfg.iterations, restarts=cfg.restarts,
                  apgd=autoattack.apgd_iterations, apgd_restarts=autoattack.apgd_restarts, targets=autoattack.targets,
                  square=square, where=where)
    key = "figures.worst_caption_all" if strong.examples == test_size else "figures.worst_caption_first"
    return tr(key, iterations=cfg.iterations, restarts=cfg.restarts, examples=strong.examples)


def curve_axis(tr: Catalogue, view: ViewState) -> str:
    return tr("curve.axis", norm=norm_label(tr, view.attack_norm), method=view.attack.value.upper(),
              mode=mode_label(tr, view))


def curve_caption(tr: Catalogue, curve: Curve, worst: Curve | None, test_size: int, seeds: int = 0) -> str:
    """What the curve shows; a curve on part of the test set says how far its points may be off, and
    ``seeds`` (the number of seeds with stored curves, if more than one) that the bars are their range."""
    if curve.examples < test_size:
        low, high = wilson_interval(curve.examples // 2, curve.examples)  # the widest interval, at 50%
        parts = [tr("curve.solid_part", examples=curve.examples, half=(high - low) * 50)]
    else:
        parts = [tr("curve.solid_all", examples=curve.examples)]
    if worst:
        parts.append(tr("curve.dotted", examples=worst.examples))
    if seeds > 1:
        parts.append(tr("curve.bars", seeds=seeds))
    return "".join(parts) + tr("curve.current")


def job_status(tr: Catalogue, pending: Pending, failure: Message) -> tuple[float | None, str]:
    """A number still being measured: its progress bar's fraction in [0, 1] (None: no bar) and its text.

    ``failure`` is what to say when the job failed (the service decides how much the reader may see).
    """
    what = tr(pending.task.label())
    job = pending.job
    if job is None:
        return None, tr("jobs.refused", what=what, reason=tr(pending.refusal or message("jobs.failed_hosted")))
    if pending.failed:
        return None, tr("jobs.refused", what=what, reason=tr(failure))
    if job.state is JobState.QUEUED:
        return 0.0, tr("jobs.queued", what=what, position=job.position, wait=duration(job.wait_seconds))
    fraction = job.progress.fraction if job.progress is not None else 0.0
    return fraction, tr("jobs.running", what=what, left=duration(job.left_seconds))


@dataclass(frozen=True)
class CompareTable:
    """The "Compare training methods" table: one dict per row, its columns in order, and a caption."""

    rows: list[dict[str, str]]
    caption: str


def compare_table(tr: Catalogue, rows: list[MethodRow], epsilon: float, caption: str | None = None) -> CompareTable:
    """The rows as the page's table (``caption``: where the numbers come from, if not the comparison's)."""
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.1%}"

    table = [{tr("compare.training"): tr(r.name), tr("compare.clean"): pct(r.clean),
              tr("compare.transfer_fgsm", epsilon=epsilon): pct(r.transfer_fgsm),
              tr("compare.whitebox_pgd"): "–" if r.whitebox_pgd is None else r.whitebox_pgd.text(),
              tr("compare.worst_case"): "–" if r.worst_case is None else r.worst_case.text(),
              tr("compare.attacks"): "–" if r.worst_case is None else tr(
                  "compare.with_autoattack" if r.autoattack else "compare.without_autoattack"),
              tr("compare.digits"): "–" if r.worst_case is None else f"{r.worst_case.n:,}",
              tr("compare.training_time"): r.training_time(tr)}
             for r in rows]
    return CompareTable(table, caption or tr("compare.caption"))


def provenance(tr: Catalogue, pair: ModelPair) -> list[str]:
    """One Markdown line per model: id, source, training time and recipe, hash, TensorFlow version."""
    lines = []
    for kind in ModelKind:
        entry = pair.entry(kind)
        source = tr("provenance.pretrained" if pair.pretrained[kind] else "provenance.cache")
        lines.append(tr("provenance.line", model=tr(MODEL_KEYS[kind]), id=entry.id, source=source,
                        seconds=entry.train_seconds, epochs=entry.epochs, batch=entry.batch_size,
                        sha=entry.sha256[:12], tensorflow=entry.tensorflow))
    return lines


def probe_caption(tr: Catalogue, history: ProbeHistory, cfg: LiveProbe = LiveProbe()) -> str:
    """What the live probe's chart shows: the digits, the attacks, their norm and strength."""
    return tr("probe.caption", examples=history.examples, iterations=cfg.pgd_iterations,
              norm=NORM_SPECS[history.norm].symbol, strength=history.strength)


def training_plan(tr: Catalogue, epochs: int, n_train: int, summary: str, expected: Estimate) -> str:
    """What training will do and take, and what the estimate rests on (this server's pace, or the shipped fit)."""
    basis = (message("training.basis_server", count=expected.trainings) if expected.trainings
             else message("training.basis_shipped"))
    return tr("training.plan", epochs=epochs, examples=n_train, summary=summary, duration=minutes(expected.seconds),
              basis=basis)


def training_progress(tr: Catalogue, p: Progress | None, left_seconds: float | None = None) -> tuple[float, str]:
    """A progress bar's fraction in [0, 1] and its text for a running training job, with the time left
    (``left_seconds``, from the job's own pace) once a twentieth of it is done."""
    if p is None:
        return 0.0, tr("training.starting")
    name = tr(IN_TEXT_KEYS[p.model])
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(p.metrics.items()) if k in ("loss", "acc"))
    words = tr("training.progress", model=name, epoch=p.epoch, epochs=p.epochs, step=p.step, steps=p.steps,
               metrics=metrics)
    if left_seconds is not None and p.fraction >= PACE_KNOWN:
        words += " · " + tr("training.left", duration=minutes(left_seconds))
    return min(1.0, p.fraction), words


def queued(tr: Catalogue, position: int, wait_seconds: float) -> str:
    return tr("training.queued", position=position, wait=minutes(wait_seconds))


def devices(tr: Catalogue, names: list[Message]) -> str:
    return tr("page.devices", names=", ".join(map(tr, names)))


def flip_text(tr: Catalogue, model: ModelKind, flip: Flip) -> str:
    """How far the attack has to go before the model's answer changes (or, targeted, becomes the target),
    with the search's resolution."""
    name = tr(IN_TEXT_KEYS[model])
    keeps, wrong, flips = (("own.keeps", "own.wrong", "own.flips") if flip.target is None
                           else ("own.keeps_target", "own.wrong_target", "own.flips_target"))
    if flip.strength is None:
        return tr(keeps, model=name, strength=flip.searched_to, target=flip.target)
    if flip.strength == 0:
        return tr(wrong, model=name, target=flip.target)
    return tr(flips, model=name, strength=flip.strength, resolution=flip.resolution, target=flip.target)


def robust_refused(tr: Catalogue, robust_seconds: float | None) -> str:
    """Why this robust configuration does not train here: the server trains none on demand, or none costlier
    than ``robust_seconds``."""
    epsilons = ", ".join(map(str, ROBUST_EPSILONS))
    if robust_seconds is None:
        return tr("training.robust_only_pretrained", epsilons=epsilons)
    return tr("training.robust_too_slow", epsilons=epsilons, duration=minutes(robust_seconds))
