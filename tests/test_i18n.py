"""The catalogues: the same keys and placeholders in both languages, and Chinese text without English words."""

from __future__ import annotations

import re
import string

import pytest

from advdemo.core.masking import MaskingKind
from advdemo.i18n import (
    DEFAULT_LANGUAGE,
    Language,
    LocalizedError,
    catalogue,
    choose_language,
    english,
    message,
    parse_language,
    placeholders,
)
from advdemo.page.lesson import LESSON

#: Latin-script words the Chinese page may keep: names, units, file formats and code identifiers.
ALLOWED_LATIN = {
    "FGSM", "PGD", "MNIST", "NSL", "CNN", "TensorFlow", "Madry", "Wong", "L", "P", "SHA", "CPU", "GPU", "MB", "PNG",
    "JPEG", "GIF", "BMP", "WebP", "CSV", "JSON", "IDX", "DIR", "data", "dir", "fonts", "noto", "cjk",
    "pgd_iterations", "pgd_epsilon", "random_init",
    # Attack names, as the field writes them (AutoAttack, APGD-CE, APGD-T, Square).
    "AutoAttack", "APGD", "CE", "T", "Square",
    # A training loss and its divergence, as the field writes them.
    "TRADES", "KL",
}


def _specs(text: str) -> set[tuple[str, str]]:
    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(text) if name}


def test_every_key_is_in_both_languages() -> None:
    en, zh = catalogue(Language.EN), catalogue(Language.ZH)
    assert en.keys() == zh.keys()
    assert len(en.keys()) > 150


@pytest.mark.parametrize("key", sorted(english().keys()))
def test_placeholders_and_their_formats_agree(key: str) -> None:
    en, zh = catalogue(Language.EN), catalogue(Language.ZH)
    assert _specs(en.raw(key)) == _specs(zh.raw(key)), key


def test_chinese_text_has_no_english_words() -> None:
    zh = catalogue(Language.ZH)
    leftovers = {}
    for key in zh.keys():
        text = re.sub(r"\{[^}]*\}", "", zh.raw(key))  # placeholders are filled by the program
        text = re.sub(r"`[^`]*`", "", text)  # code
        words = set(re.findall(r"[A-Za-z_]+", text)) - ALLOWED_LATIN
        if words:
            leftovers[key] = words
    assert leftovers == {}


CJK = r"[\u3400-\u9fff]"


@pytest.mark.parametrize("key", sorted(catalogue(Language.ZH).keys()))
def test_chinese_follows_the_style_guide_a_machine_can_check(key: str) -> None:
    """The rules at the top of zh.toml: no italics, full-width punctuation beside Chinese text, one ε form."""
    text = re.sub(r"`[^`]*`", "", catalogue(Language.ZH).raw(key))
    no_bold = re.sub(r"^\* ", "", text.replace("**", ""), flags=re.M)  # bold and list bullets are fine
    assert "*" not in no_bold, "no italics in Chinese: bold (**…**) or 「…」"
    assert not re.search(CJK + r"[,.;:?!()]|[,;:?!(]" + CJK, text), "full-width punctuation beside Chinese"
    assert not re.search(r"ε\s*=", text), "ε is written one way: 'ε 0.3'"


def test_fill_a_string_with_nested_messages() -> None:
    en, zh = catalogue(Language.EN), catalogue(Language.ZH)
    msg = message("url.invalid", name="eps", value="'x'", expected=message("url.whole", low=1, high=40))
    assert en(msg) == "The URL value eps='x' is not a whole number in 1..40; using the default."
    assert zh(msg) == "网址中的值 eps='x' 不是 1..40 范围内的整数；使用默认值。"
    assert str(msg) == en(msg)


def test_format_specs_apply() -> None:
    assert english()("figures.points", change=-12.345) == "-12.3 pts"
    assert catalogue(Language.ZH)("figures.points", change=3.0) == "+3.0 个百分点"


def test_localized_error_reads_in_english_and_keeps_its_message() -> None:
    exc = LocalizedError("image.too_large", megabytes=3.25, limit=2)
    assert str(exc) == "The file is 3.2 MB; the limit is 2 MB."
    assert catalogue(Language.ZH)(exc.message) == "文件大小为 3.2 MB；上限为 2 MB。"


def test_placeholders() -> None:
    assert placeholders("{a:.1%} of {b:,} and {a}") == {"a", "b"}


@pytest.mark.parametrize(("raw", "expected"), [
    ("zh", Language.ZH), ("zh-CN", Language.ZH), ("zh_Hans_CN", Language.ZH), ("ZH", Language.ZH),
    ("en-GB", Language.EN), (" en ", Language.EN), ("fr-FR", None), ("", None), (None, None), ("中文", None),
])
def test_parse_language(raw: str | None, expected: Language | None) -> None:
    assert parse_language(raw) is expected


def test_url_first_then_browser_then_default() -> None:
    assert choose_language("en", "zh-CN") is Language.EN
    assert choose_language("xx", "zh-CN") is Language.ZH
    assert choose_language(None, "de-DE") is DEFAULT_LANGUAGE
    assert choose_language(None, None) is DEFAULT_LANGUAGE


#: Catalogue keys the code builds from a choice's value, e.g. ``tr(f"norm.{norm.value}")``.
def _built_keys() -> set[str]:
    from advdemo.core.config import AdversarialLoss, AttackMethod, EvalMode, Norm, TrainingAttack

    keys = {f"norm.{n.value}" for n in Norm} | {f"how_far.{n.value}" for n in Norm}
    keys |= {f"{table}.{t.value}" for t in TrainingAttack for table in ("training_attack", "summary", "compare")}
    keys |= {f"summary.loss-{loss.value}" for loss in AdversarialLoss if loss is not AdversarialLoss.LABELS}
    keys |= {f"mode.{m.value}" for m in EvalMode} | {"own.draw", "own.upload"}
    keys |= {f"{table}.{m.value}" for m in AttackMethod for table in ("attack_method", "attack_method_help")}
    keys |= {f"lesson.step{n}_{part}" for n in range(1, len(LESSON) + 1) for part in ("title", "text")}
    keys |= {f"masking.{kind.value}" for kind in MaskingKind}
    return keys


def _literal_keys() -> set[str]:
    """Every string literal in the code that names a catalogue key (``tr("page.title")``, ``message(…)``, …)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = [*root.glob("advdemo/**/*.py"), *root.glob("ui/*.py"), root / "app.py"]
    pattern = re.compile(r"""["']([a-z_]+\.[a-z0-9_\-]+)["']""")
    catalogue_keys = english().keys()
    found = set()
    for path in sources:
        found |= {k for k in pattern.findall(path.read_text(encoding="utf-8")) if k.split(".")[0] in
                  {key.split(".")[0] for key in catalogue_keys}}
    return found


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    assert (_literal_keys() | _built_keys()) - english().keys() == set()


def test_the_catalogue_has_no_unused_keys() -> None:
    assert english().keys() - _literal_keys() - _built_keys() == set()
