"""``advdemo``: the command line.

Arguments are validated before TensorFlow is imported, so mistakes are
reported at once; every expected failure ends in one ``advdemo: error: …``
line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from advdemo.config import (
    FAST_RECIPE,
    NORM_SPECS,
    TUTORIAL,
    Attack,
    AttackMethod,
    ConfigError,
    EvalMode,
    HParams,
    Norm,
)

RECIPES = {"tutorial": TUTORIAL, "fast": FAST_RECIPE}


class _Progress:
    """Progress on stderr: one rewritten line on a terminal, a line per epoch otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self._printed: tuple[str, int] | None = None

    def log(self, message: str) -> None:
        self.stream.write(("\r\033[K" if self.tty else "") + message + "\n")
        self.stream.flush()

    def __call__(self, p) -> None:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(p.metrics.items()))
        line = f"{p.model:>4} epoch {p.epoch}/{p.epochs}  step {p.step}/{p.steps}  {metrics}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
            if p.step == p.steps and p.epoch == p.epochs:
                self.stream.write("\n")
        elif p.step == p.steps and self._printed != (p.model, p.epoch):
            self._printed = (p.model, p.epoch)  # the last batch and the epoch's end both report
            self.stream.write(line + "\n")
        self.stream.flush()


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the four MNIST IDX files (default: $ADVDEMO_MNIST_DIR, "
                        "else tensorflow_datasets)")
    p.add_argument("--test-examples", type=int, metavar="N",
                   help="evaluate on the first N test images only (default: all 10,000)")


def _load(args: argparse.Namespace):
    """MNIST as the flags ask (raises DataError / ConfigError with a clear message)."""
    from advdemo.data import load_mnist  # noqa: PLC0415

    n = getattr(args, "test_examples", None)
    if n is not None and n < 1:
        raise ConfigError(f"--test-examples={n} is invalid: expected a whole number >= 1")
    mnist = load_mnist(args.data_dir)
    return mnist.subset(len(mnist.train_labels), n) if n else mnist


def _add_hparams(p: argparse.ArgumentParser, default_recipe: str) -> None:
    g = p.add_argument_group("training configuration")
    g.add_argument("--recipe", choices=sorted(RECIPES), default=default_recipe,
                   help=f"training recipe: 'tutorial' (batch 32, 5 epochs) or 'fast' "
                        f"(batch {FAST_RECIPE.batch_size}, {FAST_RECIPE.epochs} epochs, same quality); "
                        f"default {default_recipe}")
    g.add_argument("--norm", choices=[n.value for n in Norm], help="adversarial gradient norm (default infinity)")
    g.add_argument("--step", type=float, help="adversarial step size (default: the norm's, 0.2 for infinity)")
    g.add_argument("--multiplier", type=float, help="adversarial loss multiplier (default 0.2)")
    g.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    g.add_argument("--batch-size", type=int, help="training batch size (default: the recipe's)")
    g.add_argument("--learning-rate", type=float, help="Adam's learning rate (default: the recipe's)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--train-examples", type=int, metavar="N",
                   help="train on the first N training images only (default: all 60,000)")


def _add_attack(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack used for evaluation")
    g.add_argument("--attack", choices=[m.value for m in AttackMethod], default="fgsm")
    g.add_argument("--attack-norm", choices=[n.value for n in Norm], help="default: the training norm")
    g.add_argument("--strength", type=float, help="attack step (FGSM) or epsilon (PGD); default: the training step")
    g.add_argument("--mode", choices=[m.value for m in EvalMode], default="transfer")
    g.add_argument("--pgd-iterations", type=int, default=10)
    g.add_argument("--random-start", action="store_true", help="PGD starts at a random point of the ball")


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
    return dataclasses.replace(hp, **changes)


def attack_from_args(args: argparse.Namespace, hp: HParams) -> Attack:
    norm = Norm(args.attack_norm) if args.attack_norm else hp.adv_grad_norm
    default_strength = hp.adv_step_size if norm is hp.adv_grad_norm else NORM_SPECS[norm].default_step
    return Attack(method=AttackMethod(args.attack), norm=norm,
                  strength=default_strength if args.strength is None else args.strength,
                  mode=EvalMode(args.mode), pgd_iterations=args.pgd_iterations, random_start=args.random_start)


def _stores(out: str | None):
    from advdemo.storage import ModelStore, default_stores  # noqa: PLC0415

    return [ModelStore(out, writable=True)] if out else default_stores()


def _table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_info(args: argparse.Namespace) -> int:
    from advdemo import __version__  # noqa: PLC0415
    from advdemo.devices import describe_devices, versions  # noqa: PLC0415

    info = {"advdemo": __version__, **versions(), "devices": describe_devices()}
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key:28s} {', '.join(value) if isinstance(value, list) else value}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    out = Path(args.out)
    progress = _Progress()
    from advdemo.experiment import reproduce  # noqa: PLC0415
    from advdemo.storage import ModelStore, atomic_write  # noqa: PLC0415

    mnist = _load(args)
    progress.log(f"MNIST from {mnist.source}: {len(mnist.train_labels)} train / {len(mnist.test_labels)} test")
    # Models live under --out so every run really trains, as the tutorial does.
    result = reproduce(hp, mnist, [ModelStore(out / "models", writable=True)], progress=progress, log=progress.log)
    grid = out / "perturbed_digits.png"
    atomic_write(grid, result.pop("grid_png"))
    rows = [("model", "clean", f"FGSM {hp.adv_grad_norm.value} {hp.adv_step_size:g}: transfer / white-box")]
    for name, key in (("base", "base"), ("adv-regularized", "adv")):
        rows.append((name, f"{result[f'{key}_clean_acc']:.4f}",
                     f"{result[f'{key}_transfer_acc']:.4f} / {result[f'{key}_whitebox_acc']:.4f}"))
    print(_table(rows))
    print(f"training {result['train_seconds']:.1f} s, evaluation {result['eval_seconds']:.1f} s; "
          f"grid written to {grid}")
    if args.json:
        print(json.dumps({**result, "grid": str(grid)}))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    progress = _Progress()
    from advdemo.experiment import obtain_model  # noqa: PLC0415

    mnist = _load(args)
    stores = _stores(args.out)
    summary = {}
    for kind in ("base", "adv"):
        _, entry, trained = obtain_model(kind, hp, mnist, stores, progress=progress, log=progress.log)
        summary[kind] = entry["id"]
        progress.log(f"{kind}: {entry['id']} ({'trained' if trained else 'already stored'}, "
                     f"{entry['train_seconds']:.1f} s)")
    print(json.dumps(summary) if args.json else f"models stored: {summary['base']}, {summary['adv']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    hp = hparams_from_args(args)
    attack = attack_from_args(args, hp)
    progress = _Progress()
    from advdemo.evaluation import evaluate  # noqa: PLC0415
    from advdemo.experiment import find_model  # noqa: PLC0415
    from advdemo.storage import StoreError, model_id  # noqa: PLC0415

    stores = _stores(args.models)
    models = {}
    for kind in ("base", "adv"):
        found = find_model(stores, model_id(hp, kind), progress.log)
        if not found:
            raise StoreError(f"no trained {kind} model for this configuration; run 'advdemo train' "
                             "with the same flags first")
        models[kind] = found[0]
    mnist = _load(args)
    start = time.perf_counter()
    result = evaluate(models["base"], models["adv"], mnist.test_images, mnist.test_labels, attack)
    result["eval_seconds"] = round(time.perf_counter() - start, 2)
    label = f"{attack.method.value} {attack.norm.value} {attack.strength:g} ({attack.mode.value})"
    print(_table([("model", "clean", label),
                  ("base", f"{result['base_clean_acc']:.4f}", f"{result['base_attacked_acc']:.4f}"),
                  ("adv-regularized", f"{result['adv_clean_acc']:.4f}", f"{result['adv_attacked_acc']:.4f}")]))
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    progress = _Progress()
    from advdemo.storage import ModelStore  # noqa: PLC0415
    from advdemo.sweep import run_sweep  # noqa: PLC0415

    mnist = _load(args)
    done = run_sweep(ModelStore(args.out, writable=True), mnist, RECIPES[args.recipe],
                     progress=progress, log=progress.log, limit=args.limit)
    print(f"{done} models in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
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
    _add_hparams(p, default_recipe="fast")
    p.add_argument("--out", metavar="DIR", help="store models here (default: the per-user cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate stored models of one configuration under an attack")
    _add_data(p)
    _add_hparams(p, default_recipe="fast")
    _add_attack(p)
    p.add_argument("--models", metavar="DIR", help="model store to read (default: pretrained/, then the cache)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sweep", help="train the pretrained grid (resumable)")
    _add_data(p)
    p.add_argument("--out", default="pretrained", metavar="DIR")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="fast")
    p.add_argument("--limit", type=int, help="stop after this many newly trained models")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from advdemo.data import DataError  # noqa: PLC0415 - light: no TensorFlow

    try:
        return args.func(args)
    except ConfigError as exc:
        parser.exit(2, f"advdemo: error: {exc}\n")
    except DataError as exc:
        parser.exit(1, f"advdemo: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "advdemo: interrupted\n")
    except Exception as exc:  # StoreError and friends: still no traceback for users
        from advdemo.storage import StoreError  # noqa: PLC0415

        if isinstance(exc, StoreError):
            parser.exit(1, f"advdemo: error: {exc}\n")
        if os.environ.get("ADVDEMO_DEBUG"):
            raise
        parser.exit(1, f"advdemo: unexpected error: {type(exc).__name__}: {exc} "
                       "(set ADVDEMO_DEBUG=1 for a traceback)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
