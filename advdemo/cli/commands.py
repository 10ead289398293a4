"""``advdemo``: the command line.

Arguments are validated before TensorFlow is imported, so mistakes are
reported at once; every expected failure ends in one ``advdemo: error: …``
line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advdemo.cli.terminal import TerminalProgress
from advdemo.core.config import (
    FAST_RECIPE,
    MAX_TRAINING_PGD_ITERATIONS,
    NORM_SPECS,
    ROBUST_EPSILONS,
    TRAINING_SPECS,
    TUTORIAL,
    Attack,
    AttackMethod,
    ConfigError,
    EvalMode,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    TrainingAttack,
    default_of,
    robust_hparams,
)

RECIPES = {"tutorial": TUTORIAL, "fast": FAST_RECIPE}
#: The recipe of the pretrained models, and so of every command but ``reproduce``.
PRETRAINED_RECIPE = "fast"
#: Where ``advdemo autoattack --full-test-set`` keeps its finished parts: inside the store they are for.
PARTS_FOLDER = ".autoattack-parts"
#: How tables and messages name the two models (the tutorial's words).
KIND_NAMES = {ModelKind.BASE: "base", ModelKind.REGULARIZED: "adv-regularized"}


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the four MNIST IDX files (default: $ADVDEMO_MNIST_DIR, "
                        "else tensorflow_datasets; commands that only evaluate fall back to the test set "
                        "shipped with advdemo)")
    p.add_argument("--test-examples", type=int, metavar="N",
                   help="evaluate on the first N test images only (default: all 10,000)")


def _load(args: argparse.Namespace, *, training: bool = True):
    """MNIST as the flags ask; without ``training`` the shipped test set will do
    (raises DataError / ConfigError with a clear message)."""
    from advdemo.core.data import load_mnist  # noqa: PLC0415

    n = getattr(args, "test_examples", None)
    if n is not None and n < 1:
        raise ConfigError(f"--test-examples={n} is invalid: expected a whole number >= 1")
    mnist = load_mnist(args.data_dir, training=training)
    return mnist.subset(len(mnist.train_labels), n) if n else mnist


def _add_hparams(p: argparse.ArgumentParser, default_recipe: str) -> None:
    g = p.add_argument_group("training configuration")
    g.add_argument("--recipe", choices=sorted(RECIPES), default=default_recipe,
                   help=f"training recipe: 'tutorial' (batch {TUTORIAL.batch_size}, {TUTORIAL.epochs} epochs) "
                        "or 'fast' "
                        f"(batch {FAST_RECIPE.batch_size}, {FAST_RECIPE.epochs} epochs, same quality); "
                        f"default {default_recipe}")
    g.add_argument("--norm", choices=[n.value for n in Norm],
                   help=f"adversarial gradient norm (default {default_of(HParams, 'adv_grad_norm').value})")
    g.add_argument("--step", type=float, help="adversarial step size (default: the norm's, "
                                              f"{NORM_SPECS[Norm.INFINITY].default_step:g} for infinity)")
    g.add_argument("--multiplier", type=float,
                   help=f"adversarial loss multiplier (default {default_of(HParams, 'adv_multiplier'):g})")
    g.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    g.add_argument("--batch-size", type=int, help="training batch size (default: the recipe's)")
    g.add_argument("--learning-rate", type=float, help="Adam's learning rate (default: the recipe's)")
    g.add_argument("--seed", type=int, help=f"random seed (default {default_of(HParams, 'seed')})")
    g.add_argument("--train-examples", type=int, metavar="N",
                   help="train on the first N training images only (default: all 60,000)")
    g.add_argument("--train-attack", choices=[t.value for t in TrainingAttack], default=TrainingAttack.FGSM.value,
                   help="how NSL makes the adversarial neighbours: 'fgsm' (the tutorial's one step), 'fgsm-rs' "
                        "(one step from a random start in the epsilon ball) or 'pgd' (several projected steps); "
                        "the robust ones are L-infinity and take their step, multiplier and epochs from the "
                        "robust recipe (docs/robustness.md)")
    g.add_argument("--train-epsilon", type=float,
                   help=f"epsilon ball of fgsm-rs and pgd training (default {ROBUST_EPSILONS[-1]:g})")
    g.add_argument("--train-pgd-iterations", type=int, metavar="K",
                   help=f"PGD steps per training batch, 2..{MAX_TRAINING_PGD_ITERATIONS} "
                        "(default: the robust recipe's for the epsilon)")
    g.add_argument("--adv-epochs", type=int, help="epochs of the regularized model (default: the recipe's)")


def _add_attack(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack used for evaluation")
    g.add_argument("--attack", choices=[m.value for m in AttackMethod], default=default_of(Attack, "method").value)
    g.add_argument("--attack-norm", choices=[n.value for n in Norm], help="default: the training norm")
    g.add_argument("--strength", type=float, help="attack step (FGSM) or epsilon (PGD); default: the training step")
    g.add_argument("--mode", choices=[m.value for m in EvalMode], default=default_of(Attack, "mode").value)
    g.add_argument("--target", type=int, choices=range(10), metavar="CLASS",
                   help="a targeted attack: push every digit towards being read as CLASS (0-9); the output then "
                        "gives each model's share of the other classes' digits read as CLASS")
    g.add_argument("--pgd-iterations", type=int, default=default_of(Attack, "pgd_iterations"),
                   help="PGD steps (default %(default)s)")
    g.add_argument("--random-start", action="store_true", help="PGD starts at a random point of the ball")


def _add_strong(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("strong evaluation (white-box PGD with restarts, worst case per digit)")
    g.add_argument("--strong-iterations", type=int, default=default_of(StrongEval, "iterations"),
                   help="PGD steps (default %(default)s)")
    g.add_argument("--restarts", type=int, default=default_of(StrongEval, "restarts"),
                   help="random restarts (default %(default)s)")
    g.add_argument("--strong-examples", type=int, default=default_of(StrongEval, "examples"), metavar="N",
                   help="measure on the first N test digits (default %(default)s; 10000 is all)")


def strong_from_args(args: argparse.Namespace) -> StrongEval:
    return StrongEval(iterations=args.strong_iterations, restarts=args.restarts, examples=args.strong_examples)


def hparams_from_args(args: argparse.Namespace) -> HParams:
    """The configuration the flags describe (raises ConfigError naming a bad flag's field)."""
    hp = RECIPES[args.recipe]
    changes: dict[str, Any] = {}
    if args.norm is not None:
        changes["adv_grad_norm"] = Norm(args.norm)
        changes["adv_step_size"] = NORM_SPECS[Norm(args.norm)].default_step
    for flag, name in (("step", "adv_step_size"), ("multiplier", "adv_multiplier"), ("epochs", "epochs"),
                       ("batch_size", "batch_size"), ("learning_rate", "learning_rate"), ("seed", "seed"),
                       ("train_examples", "train_examples")):
        if getattr(args, flag) is not None:
            changes[name] = getattr(args, flag)
    attack = TrainingAttack(args.train_attack)
    if TRAINING_SPECS[attack].robust:
        if args.norm not in (None, Norm.INFINITY.value) or args.step is not None or args.multiplier is not None:
            raise ConfigError(f"--train-attack {attack.value} sets its own norm (infinity), step and multiplier; "
                              "leave out --norm, --step and --multiplier")
        epsilon = ROBUST_EPSILONS[-1] if args.train_epsilon is None else args.train_epsilon
        hp = robust_hparams(dataclasses.replace(hp, **changes), attack, epsilon,
                            iterations=args.train_pgd_iterations if TRAINING_SPECS[attack].iterative else None)
        changes = {}
    elif args.train_pgd_iterations is not None or args.train_epsilon is not None:
        raise ConfigError("--train-epsilon and --train-pgd-iterations need --train-attack "
                          f"{' or '.join(t.value for t in TrainingAttack if TRAINING_SPECS[t].robust)}")
    if args.adv_epochs is not None:
        changes["adv_epochs"] = args.adv_epochs
    return dataclasses.replace(hp, **changes)


def attack_from_args(args: argparse.Namespace, hp: HParams) -> Attack:
    norm = Norm(args.attack_norm) if args.attack_norm else hp.adv_grad_norm
    default_strength = hp.adv_step_size if norm is hp.adv_grad_norm else NORM_SPECS[norm].default_step
    return Attack(method=AttackMethod(args.attack), norm=norm,
                  strength=default_strength if args.strength is None else args.strength,
                  mode=EvalMode(args.mode), pgd_iterations=args.pgd_iterations, random_start=args.random_start,
                  target=args.target)


def _stores(out: str | None):
    from advdemo.store.storage import ModelStore, default_stores  # noqa: PLC0415

    return [ModelStore(out, writable=True)] if out else default_stores()


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of text cells as aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_info(args: argparse.Namespace) -> int:
    from advdemo import __version__  # noqa: PLC0415
    from advdemo.core.devices import describe_devices, versions  # noqa: PLC0415

    info = {"advdemo": __version__, **versions(), "devices": [str(d) for d in describe_devices()]}
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key:28s} {', '.join(value) if isinstance(value, list) else value}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    out = Path(args.out)
    progress = TerminalProgress()
    from advdemo.cli.reproduce import reproduce  # noqa: PLC0415
    from advdemo.store.storage import ModelStore, atomic_write  # noqa: PLC0415

    mnist = _load(args)
    progress.log(f"MNIST from {mnist.source}: {len(mnist.train_labels)} train / {len(mnist.test_labels)} test")
    # Models live under --out so every run really trains, as the tutorial does.
    result = reproduce(hp, mnist, [ModelStore(out / "models", writable=True)], progress=progress, log=progress.log)
    grid = out / "perturbed_digits.png"
    atomic_write(grid, result.grid_png)
    rows = [("model", "clean", f"FGSM {hp.adv_grad_norm.value} {hp.adv_step_size:g}: transfer / white-box")]
    m = result.metrics
    for kind in ModelKind:
        rows.append((KIND_NAMES[kind], f"{m.clean.of(kind):.4f}",
                     f"{m.transfer.of(kind):.4f} / {m.whitebox.of(kind):.4f}"))
    print(_table(rows))
    print(f"training {result.train_seconds:.1f} s, evaluation {result.eval_seconds:.1f} s; "
          f"grid written to {grid}")
    if args.json:
        print(json.dumps({**result.to_json(), "grid": str(grid)}))
    return 0


def _find_pair(hp: HParams, args: argparse.Namespace, progress: TerminalProgress) -> dict:
    """Both stored models for ``hp``: ``{ModelKind: (keras.Model, entry, store)}``; StoreError if one is missing."""
    from advdemo.store.storage import StoreError, find_model, model_id  # noqa: PLC0415

    stores = _stores(args.models)
    found = {kind: find_model(stores, model_id(hp, kind), progress.log) for kind in ModelKind}
    for kind, hit in found.items():
        if not hit:
            raise StoreError(f"no trained {KIND_NAMES[kind]} model for this configuration; run 'advdemo train' "
                             "with the same flags first")
    return found


def cmd_train(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    progress = TerminalProgress()
    from advdemo.experiments.experiment import obtain_model  # noqa: PLC0415

    mnist = _load(args)
    stores = _stores(args.out)
    summary = {}
    for kind in ModelKind:
        _, entry, trained = obtain_model(kind, hp, mnist, stores, progress=progress, log=progress.log)
        summary[kind.value] = entry.id
        progress.log(f"{KIND_NAMES[kind]}: {entry.id} ({'trained' if trained else 'already stored'}, "
                     f"{entry.train_seconds:.1f} s)")
    print(json.dumps(summary) if args.json else f"models stored: {', '.join(summary.values())}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    attack = attack_from_args(args, hp)
    progress = TerminalProgress()
    from advdemo.core.evaluation import evaluate  # noqa: PLC0415

    found = _find_pair(hp, args, progress)
    base, regularized = found[ModelKind.BASE][0], found[ModelKind.REGULARIZED][0]
    mnist = _load(args, training=False)
    progress.log(f"{len(mnist.test_labels):,} test digits from {mnist.source}")
    start = time.perf_counter()
    evaluation = evaluate(base, regularized, mnist.test_images, mnist.test_labels, attack,
                          progress=progress.steps("evaluation", "parts"))
    result: dict[str, Any] = {**evaluation.to_json(), "eval_seconds": round(time.perf_counter() - start, 2)}
    label = f"{attack.method.value} {attack.norm.value} {attack.strength:g} ({attack.mode.value})"
    hits = evaluation.hits
    targeted = [] if hits is None else [f"read as {attack.target}"]
    print(_table([("model", "clean", label, *targeted)]
                 + [(KIND_NAMES[k], f"{evaluation.clean.of(k):.4f}", f"{evaluation.attacked.of(k):.4f}",
                     *([] if hits is None else [f"{hits.of(k):.4f}"])) for k in ModelKind]))
    if args.worst_case:
        from advdemo.experiments.report import honest_table  # noqa: PLC0415

        rows = honest_table(base, regularized, None, None, mnist.test_images, mnist.test_labels,
                            attack.norm, [attack.strength], strong_from_args(args),
                            progress=progress.steps("strong evaluation", "PGD restarts"))
        print(_honest_text(rows))
        result["strong"] = [_honest_json(r) for r in rows]
    if args.json:
        print(json.dumps(result))
    return 0


_ATTACK_COLUMNS = (("clean", "clean"), ("transfer_fgsm", "transfer FGSM"), ("whitebox_fgsm", "white-box FGSM"),
                   ("whitebox_pgd", "white-box PGD"))
#: AutoAttack's attacks, shown where they were measured (stored ahead of time: ``advdemo autoattack``).
_AUTOATTACK_COLUMNS = (("apgd_ce", "APGD-CE"), ("apgd_t", "APGD-T"), ("square", "Square"))


def _honest_text(rows) -> str:
    """The honest table: one line per model and strength, each attack run, the worst case with its interval."""
    from advdemo.core.masking import describe_sign, pair_signs  # noqa: PLC0415

    autoattack = any(r.regularized.autoattack for r in rows)
    columns = _ATTACK_COLUMNS + (_AUTOATTACK_COLUMNS if autoattack else ())
    lines = [("model", "ε", *(label for _, label in columns), "worst case", "digits")]
    notes = []
    for r in rows:
        for name, acc in ((KIND_NAMES[ModelKind.BASE], r.base), (KIND_NAMES[ModelKind.REGULARIZED], r.regularized)):
            cells = ["–" if getattr(acc, k) is None else f"{getattr(acc, k).value:.1%}" for k, _ in columns]
            lines.append((name, f"{r.strength:g}", *cells, acc.worst_case.text(), f"{acc.worst_case.n:,}"))
        notes += [describe_sign(sign) for sign in pair_signs(r)]
    table = _table(lines)
    cfg = ("Worst case: a digit counts only if none of the attacks of its row fools the model on it (± is the 95% "
           "interval). White-box PGD: restarts and steps as configured"
           + ("; APGD-CE, APGD-T and Square as AutoAttack runs them, where '–' is not measured." if autoattack
              else "."))
    return "\n".join([table, cfg, *(f"warning: {n}" for n in notes)])


def _honest_json(r) -> dict:
    from advdemo.core.masking import pair_signs  # noqa: PLC0415

    def acc(a):
        return {name: rate.value for name, rate in a.rates().items()} | {
            "worst_case_interval": [a.worst_case.low, a.worst_case.high], "examples": a.worst_case.n}

    return {"norm": r.norm.value, "strength": r.strength, "source": r.source, "base": acc(r.base),
            "adv": acc(r.regularized), "masking_signs": [s.kind.value for s in pair_signs(r)]}


def cmd_honest(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    cfg = strong_from_args(args)
    norm = Norm(args.attack_norm) if args.attack_norm else hp.adv_grad_norm
    strengths = _strengths(args.strengths, norm)
    progress = TerminalProgress()
    from advdemo.experiments.report import honest_table  # noqa: PLC0415

    (base, base_entry, _), (reg, reg_entry, _) = _find_pair(hp, args, progress).values()
    mnist = _load(args, training=False)
    rows = honest_table(base, reg, base_entry, reg_entry, mnist.test_images, mnist.test_labels, norm, strengths, cfg,
                        progress=progress.steps("strong evaluation", "PGD restarts"))
    print(f"{hp.training_attack.value} training, {reg_entry.id}; attack norm {norm.value}")
    print(_honest_text(rows))
    if args.json:
        print(json.dumps([_honest_json(r) for r in rows]))
    return 0


def _strengths(text: str | None, norm: Norm) -> list[float]:
    if text is None:
        return list(ROBUST_EPSILONS) if norm is Norm.INFINITY else [s for s in NORM_SPECS[norm].strengths[2::2]]
    try:
        values = sorted(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--strengths={text!r} is invalid: expected numbers separated by commas") from None
    if not values:
        raise ConfigError("--strengths is empty")
    for v in values:
        Attack(norm=norm, strength=v)
    return values


def cmd_compare(args: argparse.Namespace) -> int:
    from advdemo.experiments.report import compare_methods  # noqa: PLC0415
    from advdemo.i18n import english  # noqa: PLC0415

    Attack(strength=args.epsilon)
    rows = compare_methods(_stores(args.models), RECIPES[args.recipe], args.epsilon)
    tr = english()
    lines = [("training", "clean", "transfer FGSM", "white-box PGD", "worst case", "digits", "worst case over",
              "training time")]
    for r in rows:
        lines.append((str(r.name), "–" if r.clean is None else f"{r.clean:.1%}",
                      "–" if r.transfer_fgsm is None else f"{r.transfer_fgsm:.1%}",
                      "–" if r.whitebox_pgd is None else r.whitebox_pgd.text(),
                      "–" if r.worst_case is None else r.worst_case.text(),
                      "–" if r.worst_case is None else f"{r.worst_case.n:,}",
                      "–" if r.worst_case is None else tr(
                          "compare.with_autoattack" if r.autoattack else "compare.without_autoattack"),
                      r.training_time()))
    print(f"L∞ ε {args.epsilon:g}; clean and transfer FGSM on the whole test set, PGD and worst case as stored, "
          "on the digits given (± is the 95% interval); '–': not stored")
    print(_table(lines))
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], default=str))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    progress = TerminalProgress()
    from advdemo.experiments.grids import GRIDS  # noqa: PLC0415
    from advdemo.experiments.sweep import (  # noqa: PLC0415
        full_test_set_jobs,
        run_strong_evaluation,
        run_sweep,
        strong_jobs,
    )
    from advdemo.store.manifest import StrongKind  # noqa: PLC0415
    from advdemo.store.storage import ModelStore, model_id  # noqa: PLC0415

    seeds = _seeds(args.seeds)
    if args.engine == "ray":
        _ray_sweep(args, seeds, progress)
        if not (args.strong or args.full_test_set):
            return 0
    mnist = _load(args)
    store = ModelStore(args.out, writable=True)
    cfg = strong_from_args(args)
    for seed in seeds:  # each seed is a grid of its own, base model included
        recipe = dataclasses.replace(RECIPES[args.recipe], seed=seed)
        points = list(GRIDS[args.grid](recipe))
        if args.engine == "local":
            done = run_sweep(store, mnist, recipe, progress=progress, log=progress.log, limit=args.limit,
                             points=points)
            print(f"{done} models of the {args.grid} grid (seed {seed}) in {args.out}")
        base = model_id(recipe, ModelKind.BASE)
        if args.strong:
            first = [model_id(hp, ModelKind.REGULARIZED) for hp in points]
            n = run_strong_evaluation(store, mnist, base, strong_jobs(store, base, first), cfg=cfg, log=progress.log)
            print(f"{n} strong-evaluation curves added ({cfg.examples} digits, PGD-{cfg.iterations} x "
                  f"{cfg.restarts})")
        if args.full_test_set:
            full = dataclasses.replace(cfg, examples=len(mnist.test_labels))
            n = run_strong_evaluation(store, mnist, base, full_test_set_jobs(store, recipe), cfg=full,
                                      strengths={Norm.INFINITY: ROBUST_EPSILONS}, kind=StrongKind.FULL,
                                      log=progress.log)
            print(f"{n} whole-test-set evaluations added ({full.examples} digits)")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from advdemo.cli.prepare import prepare  # noqa: PLC0415
    from advdemo.store.storage import ModelStore  # noqa: PLC0415

    progress = TerminalProgress()
    mnist = _load(args, training=False)
    done = prepare(ModelStore(args.out, writable=True), mnist, args.data_dir, RECIPES[args.recipe], log=progress.log)
    print(f"{done.results} lesson numbers and {done.strong_curves} L2 worst-case curves added to {args.out}")
    return 0


def cmd_autoattack(args: argparse.Namespace) -> int:
    from advdemo.experiments.autoattack_runs import autoattack_jobs, run_autoattack  # noqa: PLC0415
    from advdemo.store.manifest import AutoAttackKind  # noqa: PLC0415
    from advdemo.store.storage import ModelStore, model_id  # noqa: PLC0415

    progress = TerminalProgress()
    mnist = _load(args, training=False)
    recipe = RECIPES[args.recipe]
    examples = len(mnist.test_labels) if args.full_test_set else min(len(mnist.test_labels), StrongEval().examples)
    store = ModelStore(args.out, writable=True)
    jobs = autoattack_jobs(recipe, full=args.full_test_set)
    missing = [mid for mid, _ in jobs if store.entry(mid) is None]
    if missing:
        print(f"error: {args.out} lacks {', '.join(sorted(set(missing)))}: train them first "
              "(advdemo sweep --grid robust)", file=sys.stderr)
        return 2
    n = run_autoattack(store, mnist, model_id(recipe, ModelKind.BASE), jobs, examples=examples,
                       kind=AutoAttackKind.FULL if args.full_test_set else AutoAttackKind.SUBSET,
                       parts=Path(args.parts) if args.parts else Path(args.out) / PARTS_FOLDER, log=progress.log)
    print(f"{n} AutoAttack records added to {args.out} ({examples:,} digits)")
    return 0


def _ray_sweep(args: argparse.Namespace, seeds: list[int], progress: TerminalProgress) -> None:
    """The grid for each seed as Ray tasks (the strong evaluation, if asked for, then runs locally)."""
    from advdemo.core.data import resolve_data_dir  # noqa: PLC0415
    from advdemo.experiments.grids import GRIDS  # noqa: PLC0415
    from advdemo.experiments.ray_sweep import run_sweep_ray  # noqa: PLC0415 - imports Ray

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray: pip install -e '.[cluster]'")
    folder = resolve_data_dir(args.data_dir)
    for seed in seeds:
        recipe = dataclasses.replace(RECIPES[args.recipe], seed=seed)
        result = run_sweep_ray(str(Path(args.out).resolve()), str(folder.resolve()) if folder else None, recipe,
                               list(GRIDS[args.grid](recipe)), address=args.address, num_cpus=args.ray_cpus,
                               cpus_per_task=args.cpus_per_task, log=progress.log)
        print(f"{result.stored} models of the {args.grid} grid (seed {seed}) in {args.out}; {result.tasks} Ray "
              f"tasks in {result.seconds:.0f} s" + (f", {len(result.failed)} failed (run again to finish)"
                                                   if result.failed else ""))


def _seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ConfigError for anything else."""
    try:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--seeds={text!r} is invalid: expected whole numbers separated by commas") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds={text!r} is invalid: expected distinct whole numbers >= 0")
    return seeds


def cmd_check_store(args: argparse.Namespace) -> int:
    from advdemo.store.shared_check import check_shared_store  # noqa: PLC0415

    check = check_shared_store(args.folder, writers=args.writers)
    print(f"{check.folder}: {check.writers} processes wrote {check.writers * check.updates_each} results at once, "
          f"{check.results_kept} kept; {check.reads} reads of a file being replaced, {check.torn_reads} torn; "
          f"{len(check.leftovers)} temporary files left ({check.seconds:.1f} s)")
    for problem in check.problems:
        print(f"problem: {problem}")
    print("ok: replicas can share a store here" if check.ok else "not safe for a shared store")
    return 0 if check.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from advdemo.experiments.grids import GRIDS  # noqa: PLC0415 - light, as the parser must be

    parser = argparse.ArgumentParser(
        prog="advdemo",
        description="Adversarial regularization for image classification (the NSL MNIST tutorial).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="versions and the devices TensorFlow computes on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("reproduce", help="run the whole tutorial: train, evaluate, draw the grid")
    _add_data(p)
    _add_hparams(p, default_recipe="tutorial")
    p.add_argument("--out", default="advdemo-output", metavar="DIR",
                   help="where models and the grid PNG go (default ./advdemo-output)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of results")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("train", help="train (or find) the base and regularized models of one configuration")
    _add_data(p)
    _add_hparams(p, default_recipe=PRETRAINED_RECIPE)
    p.add_argument("--out", metavar="DIR", help="store models here (default: the per-user cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate stored models of one configuration under an attack")
    _add_data(p)
    _add_hparams(p, default_recipe=PRETRAINED_RECIPE)
    _add_attack(p)
    p.add_argument("--models", metavar="DIR", help="model store to read (default: pretrained/, then the cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p.add_argument("--worst-case", action="store_true",
                   help="also run the strong evaluation at this strength: every attack and the worst case per digit")
    _add_strong(p)

    p = sub.add_parser("honest", help="the honest robustness table of one configuration: transfer and white-box "
                                      "FGSM, white-box PGD with restarts, and the worst case per digit")
    _add_data(p)
    _add_hparams(p, default_recipe=PRETRAINED_RECIPE)
    p.add_argument("--attack-norm", choices=[n.value for n in Norm if NORM_SPECS[n].supports_pgd],
                   help="default: the training norm")
    p.add_argument("--strengths", metavar="LIST", help="comma-separated attack strengths (default: "
                                                       f"{','.join(map(str, ROBUST_EPSILONS))} for infinity)")
    _add_strong(p)
    p.add_argument("--models", metavar="DIR", help="model store to read (default: pretrained/, then the cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_honest)

    p = sub.add_parser("compare", help="compare the training methods (tutorial FGSM, random-start FGSM, PGD) "
                                       "at one L-infinity epsilon, from the pretrained models")
    p.add_argument("--epsilon", type=float, default=ROBUST_EPSILONS[-1],
                   help=f"one of {', '.join(map(str, ROBUST_EPSILONS))} (default %(default)s)")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=PRETRAINED_RECIPE)
    p.add_argument("--models", metavar="DIR", help="model store to read (default: pretrained/, then the cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="train the pretrained grid (resumable)")
    _add_data(p)
    p.add_argument("--out", default="pretrained", metavar="DIR")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=PRETRAINED_RECIPE)
    p.add_argument("--grid", choices=list(GRIDS), default="tutorial",
                   help="'tutorial': the 48 FGSM-regularized models; 'robust': PGD and random-start FGSM "
                        "training at each epsilon; 'spread': the tutorial's configuration and three others, "
                        "for --seeds (default %(default)s)")
    p.add_argument("--seeds", default=str(default_of(HParams, "seed")), metavar="LIST",
                   help="train every configuration once per seed, e.g. 0,1,2 (default %(default)s)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="'local': one model at a time in this process; 'ray': one Ray task per configuration "
                        "(pip install -e '.[cluster]'; default %(default)s)")
    p.add_argument("--address", help="with --engine ray: a running Ray cluster ('auto', or ray://HOST:10001); "
                                     "default: start a local Ray instance")
    p.add_argument("--ray-cpus", type=int, metavar="N", help="with --engine ray and no --address: the local "
                                                             "instance's CPUs (default: all)")
    p.add_argument("--cpus-per-task", type=float, default=1.0, metavar="N",
                   help="with --engine ray: CPUs each training task declares (default %(default)s)")
    p.add_argument("--limit", type=int, help="stop after this many newly trained models")
    p.add_argument("--strong", action="store_true",
                   help="then add strong-evaluation curves to every model that lacks them (resumable)")
    p.add_argument("--full-test-set", action="store_true",
                   help="then measure the PGD-trained models and the tutorial's on the whole test set at "
                        f"ε {', '.join(map(str, ROBUST_EPSILONS))} (resumable)")
    _add_strong(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("autoattack", help="measure AutoAttack's attacks (APGD-CE, APGD-T, Square) beside the strong "
                                          "evaluation's on the base, tutorial and robust models, into the store's "
                                          "manifest (slow; resumable)")
    _add_data(p)
    p.add_argument("--out", default="pretrained", metavar="DIR", help="the store holding the pretrained models")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=PRETRAINED_RECIPE)
    p.add_argument("--full-test-set", action="store_true",
                   help="the base, tutorial and ε 0.3 PGD models on all 10,000 test digits instead of the first "
                        "1,000 and every robust model; measured 1,000 digits at a time, each part kept until its "
                        "record is stored, so a stopped run loses at most one part")
    p.add_argument("--parts", metavar="DIR", help=f"where the parts are kept (default: {PARTS_FOLDER} in --out)")
    p.set_defaults(func=cmd_autoattack)

    p = sub.add_parser("prepare", help="measure ahead of time what a class most likely asks (the lesson's "
                                       "numbers, the L2 worst case of its models and the comparison's; resumable)")
    _add_data(p)
    p.add_argument("--out", default="pretrained", metavar="DIR", help="the store holding the pretrained models")
    p.add_argument("--recipe", choices=sorted(RECIPES), default=PRETRAINED_RECIPE)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("check-store", help="check that a folder (a shared volume) keeps the store's guarantees "
                                           "for several replicas: atomic renames, locks, reads after writes")
    p.add_argument("folder", metavar="DIR", help="a folder on the volume (a scratch folder inside it is removed after)")
    p.add_argument("--writers", type=int, default=3, help="processes writing at once (1-16, default 3)")
    p.set_defaults(func=cmd_check_store)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from advdemo.core.data import DataError  # noqa: PLC0415 - light: no TensorFlow

    try:
        return args.func(args)
    except ConfigError as exc:
        parser.exit(2, f"advdemo: error: {exc}\n")
    except DataError as exc:
        parser.exit(1, f"advdemo: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "advdemo: interrupted\n")
    except Exception as exc:  # StoreError and friends: still no traceback for users
        from advdemo.store.storage import StoreError  # noqa: PLC0415

        if isinstance(exc, StoreError):
            parser.exit(1, f"advdemo: error: {exc}\n")
        if os.environ.get("ADVDEMO_DEBUG"):
            raise
        parser.exit(1, f"advdemo: unexpected error: {type(exc).__name__}: {exc} "
                       "(set ADVDEMO_DEBUG=1 for a traceback)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
