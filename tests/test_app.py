"""The page, driven by Streamlit's AppTest (no browser): tiny data, stored models."""

from __future__ import annotations

import json
import re
import time

import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from advdemo.core.config import Norm
from advdemo.page import viewstate
from advdemo.page.viewstate import ViewState
from advdemo.store.storage import ModelStore

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _fresh_service(app_env):
    st.cache_resource.clear()  # one ModelService per test, as per server process
    yield
    st.cache_resource.clear()


def run_app(query: dict | None = None, timeout: float = 120, *, settle: bool = True) -> AppTest:
    """The page for ``query``; with ``settle``, once more after its background jobs have ended,
    as a browser's page redraws itself then."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params = dict(query or {})
    at.run()
    assert not at.exception, at.exception
    return settle_jobs(at, timeout) if settle else at


def settle_jobs(at: AppTest, timeout: float = 120) -> AppTest:
    """Wait for the page's jobs (measurements it asked for), then rerun it."""
    from ui.shared import get_service

    svc = get_service()
    if svc.busy():
        assert svc.wait_idle(timeout)
        at.run()
        assert not at.exception, at.exception
    return at


def notices(at: AppTest) -> list[str]:
    """The warnings' texts as the reader sees them (the page shows URL values as code spans)."""
    return [w.value.replace("`", "") for w in at.warning]


def grids(at: AppTest) -> list[str]:
    """Each digit grid's HTML (both sit in one element)."""
    return [grid for h in at.get("html") for grid in h.proto.body.split('<div class="advdemo-grid"')[1:]]


def metrics(at: AppTest) -> dict[str, str]:
    """The figures above the grids, label: value."""
    return {m.label: m.value for m in at.metric}


def details(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if 'class="advdemo-detail"' in h.proto.body]


def snapshot(at: AppTest) -> tuple:
    return (
        tuple(metrics(at).items()),
        tuple(h.proto.body for h in at.get("html")),
        tuple(str(i.proto)[:200] for i in at.get("imgs")),
        tuple(e.value for e in at.warning),
        tuple(e.value for e in at.info),
        tuple(s.value for s in at.subheader),
    )


def test_default_page_shows_both_grids_and_metrics(app_env):
    at = run_app()
    shown = grids(at)
    assert len(shown) == 2
    assert "base model:" in shown[0] and "adv-regularized model:" in shown[1]
    assert shown[0].count("<img") == 32 and shown[1].count("<img") == 32
    [detail] = details(at)
    assert detail.count("<img") == 3  # transfer mode: original, perturbation, the one perturbed image
    figures = metrics(at)
    # The tutorial's numbers, then the strong evaluation's beside them.
    assert list(figures) == ["Base, clean", "Base, FGSM ε 0.2", "Regularized, clean", "Regularized, FGSM ε 0.2",
                             "Base, worst case", "Base, white-box PGD", "Regularized, worst case",
                             "Regularized, white-box PGD"]
    assert all(re.fullmatch(r"\d{1,3}\.\d%", v) for k, v in figures.items() if "worst" not in k)
    assert all(re.fullmatch(r"\d{1,3}\.\d% ± \d+\.\d", v) for k, v in figures.items() if "worst" in k)
    assert not [w for w in notices(at) if "URL" in w]  # a clean URL gives no notices
    assert at.query_params == {}  # defaults keep the URL clean


CONTROLS = [
    ("selectbox", "norm", "l2"), ("select_slider", "step", 0.1), ("select_slider", "mult", 0.5),
    ("selectbox", "anorm", "l2"), ("select_slider", "eps", 0.4), ("radio", "attack", "pgd"),
    ("radio", "mode", "white-box"), ("number_input", "batch", 2), ("selectbox", "digit", "3"),
    ("slider", "pick", 5),
]


@pytest.mark.parametrize("kind,key,value", CONTROLS, ids=[c[1] for c in CONTROLS])
def test_each_control_changes_what_is_shown(app_env, kind, key, value):
    at = run_app()
    before = snapshot(at)
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert snapshot(at) != before
    assert at.query_params  # the URL follows the view


def test_the_digit_in_detail_is_ringed_in_both_grids(app_env):
    at = run_app({"pick": "5"})
    [detail] = details(at)
    [tile] = re.findall(r'<figure class="advdemo-tile".*?</figure>', grids(at)[0])[5:6]
    true_label = re.search(r"#5 true (\d)", tile).group(1)
    assert f'data-label="{true_label}"' in detail
    rings = [h.proto.body for h in at.get("html") if h.proto.body.startswith("<style>.advdemo-grid")]
    assert rings == [rings[0]] and ".advdemo-tile:nth-child(6)" in rings[0]


def test_switching_pgd_off_and_on_keeps_the_page_working(app_env):
    at = run_app({"attack": "pgd", "iters": "3"})
    at.slider(key="iters").set_value(4).run()  # reruns the results fragment only ...
    assert at.query_params == {"attack": "pgd", "iters": "4"}
    at.run()  # ... so AppTest's tree holds just that fragment until a full run
    at.radio(key="attack").set_value("fgsm").run()
    assert not at.exception, at.exception
    at.radio(key="attack").set_value("pgd").run()
    assert not at.exception, at.exception
    assert at.query_params == {"attack": "pgd", "iters": "4"} and len(grids(at)) == 2


def test_custom_values_switch_to_free_sliders(app_env):
    at = run_app()
    assert [s.key for s in at.sidebar.select_slider] == ["step", "mult", "eps"]
    at.checkbox(key="custom").check().run()
    assert {s.key for s in at.slider} >= {"step", "mult"}
    at.slider(key="step").set_value(0.17).run()
    assert at.query_params["step"] == "0.17"
    assert any("not trained yet" in s.value for s in at.subheader)


def test_leaving_l1_with_custom_values_snaps_back_to_the_grid(app_env):
    at = run_app({"norm": "l1", "step": "0.5", "mult": "3.25"})
    assert at.checkbox(key="custom").value
    at.selectbox(key="norm").set_value("infinity").run()
    at.checkbox(key="custom").uncheck().run()
    assert not at.exception
    assert at.session_state["step"] == 0.2 and at.session_state["mult"] == 1.0


def test_url_state_round_trips(app_env):
    view = ViewState(norm=Norm.L2, step=1.5, multiplier=0.2, attack_norm=Norm.L2, strength=2.5,
                     mode="white-box", batch=1, digit=None, pick=3)
    query = viewstate.to_query(view)
    at = run_app(query)
    assert not at.warning
    assert at.session_state["norm"] == "l2" and at.session_state["step"] == 1.5
    assert at.session_state["eps"] == 2.5 and at.session_state["mode"] == "white-box"
    assert at.query_params == query
    assert len(grids(at)) == 2
    assert details(at)[0].count("<img") == 4  # white-box: each model's own attacked image


@pytest.mark.parametrize("query,fragment", [
    ({"norm": "l7"}, "norm='l7'"),
    ({"eps": "nan"}, "eps='nan'"),
    ({"step": "-1"}, "step='-1'"),
    ({"batch": "1e99"}, "batch='1e99'"),
    ({"digit": ["1", "2"]}, "given 2 times"),
    ({"wat": "x"}, "unknown URL parameter 'wat'"),
    ({"mode": "<script>alert(1)</script>"}, "mode="),
])
def test_bad_url_values_give_a_notice_and_defaults(app_env, query, fragment):
    at = run_app(query)
    assert any(fragment in w for w in notices(at)), notices(at)
    assert at.session_state["norm"] == "infinity" and at.session_state["mode"] == "transfer"
    assert len(grids(at)) == 2  # the default view still renders


def test_missing_data_gives_a_clear_message(app_env, monkeypatch):
    monkeypatch.setenv("ADVDEMO_MNIST_DIR", str(app_env / "no-such-folder"))
    at = run_app()
    assert any("MNIST is not available" in e.value and "ADVDEMO_MNIST_DIR" in e.value for e in at.error)


def test_untrained_configuration_trains_from_the_page(app_env):
    at = run_app({"mult": "1"})
    assert any("not trained yet" in s.value for s in at.subheader)
    at.button(key="train").click().run()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(grids(at)) < 2:
        time.sleep(2)
        at.run()
        assert not at.exception, at.exception
    assert len(grids(at)) == 2, "the trained models never appeared"
    stored = ModelStore(app_env / "model-cache", writable=False)
    assert len(stored.entries()) == 1  # the adv model; the base came from the pretrained store
    # It was probed after every epoch, and the page draws how its robustness grew.
    [entry] = stored.entries().values()
    assert [p.epoch for p in entry.metrics.probe.points] == list(range(1, entry.epochs + 1))
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert any(c.get("encoding", {}).get("x", {}).get("field") == "epoch" for c in charts)


def test_without_training_data_the_train_button_says_how_to_get_it(app_env, monkeypatch, tmp_path):
    from advdemo.core import data

    monkeypatch.delenv("ADVDEMO_MNIST_DIR")  # the page runs on the shipped test set
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no-tfds"))
    monkeypatch.setattr(data, "can_reach", lambda *a, **k: False)  # offline
    monkeypatch.setattr(data, "_probe", {"at": -float("inf"), "ok": False})
    at = run_app({"mult": "1"})
    assert any("not trained yet" in s.value for s in at.subheader)
    assert at.button(key="train").disabled
    assert [w.value for w in at.warning if "training set" in w.value] == [str(data.training_data_problem())]


def test_robust_training_controls_and_expected_time(app_env):
    at = run_app()
    at.selectbox(key="tattack").set_value("pgd").run()
    assert not at.exception, at.exception
    assert [s.key for s in at.sidebar.select_slider][:1] == ["teps"]
    assert at.query_params == {"tattack": "pgd"}
    # The tiny store has no PGD-trained model: the page says what training would cost first.
    assert any("not trained yet" in s.value for s in at.subheader)
    assert any("Expected time: about" in m.value and "PGD, 10 steps" in m.value for m in at.markdown)
    at.checkbox(key="custom").check().run()
    at.slider(key="titers").set_value(4).run()
    assert at.query_params == {"tattack": "pgd", "titers": "4"}


def test_hosted_page_trains_robust_models_only_as_fast_as_the_lessons(app_env, monkeypatch):
    from advdemo.core.config import LIVE_ROBUST
    from advdemo.page.lesson import LESSON

    monkeypatch.setenv("ADVDEMO_HOSTED", "1")
    at = run_app({"tattack": "pgd", "teps": "0.3"})  # 20 epochs of PGD-10
    assert any("only if it takes no longer than the lesson's" in e.value for e in at.error)
    assert "train" not in [b.key for b in at.button]
    [live] = [step for step in LESSON if step.trains]
    at = run_app(viewstate.to_query(live.view))
    assert not at.error and not at.button(key="train").disabled
    assert any("Expected time: about" in m.value and f"PGD, {LIVE_ROBUST.adv_pgd_iterations} steps" in m.value
               for m in at.markdown)


def test_switching_training_attacks_keeps_a_valid_view(app_env):
    at = run_app({"norm": "l1", "step": "0.5", "mult": "3.25"})
    at.selectbox(key="tattack").set_value("fgsm-rs").run()
    at.checkbox(key="custom").uncheck().run()  # snaps the robust controls, leaves L1's step alone
    assert not at.exception, at.exception
    assert at.query_params["tattack"] == "fgsm-rs" and at.session_state["teps"] == 0.3
    at.selectbox(key="tattack").set_value("fgsm").run()
    assert not at.exception, at.exception
    assert at.checkbox(key="custom").value  # L1 again, which only trains on demand


def test_reset_returns_every_control_to_the_tutorials_settings_and_the_link_keeps_the_view(app_env):
    at = run_app({"eps": "0.1", "mode": "white-box", "batch": "3", "mult": "1"})
    assert [c.value for c in at.get("code")] and "eps=0.1" in at.get("code")[0].value  # the share link
    at.button(key="reset").click().run()
    assert not at.exception, at.exception
    def get(key, default):
        return at.session_state[key] if key in at.session_state else default

    assert viewstate.from_widgets(get) == viewstate.DEFAULT
    assert dict(at.query_params) == {}  # the tutorial's view needs no parameters
    assert len(grids(at)) == 2


def test_the_numbers_download_as_csv_and_json_with_their_digit_counts(app_env):
    at = run_app()
    buttons = [b for b in at.get("download_button")]
    assert len(buttons) == 3  # the grids (PNG), and the numbers as CSV and JSON


def test_figures_are_metrics_with_the_fall_under_attack_in_points(app_env):
    at = run_app({"eps": "0.1"})
    figures = {m.label: m for m in at.metric}
    clean, attacked = figures["Base, clean"], figures["Base, FGSM ε 0.1"]
    assert not clean.delta
    fall = float(clean.value.rstrip("%")) - float(attacked.value.rstrip("%"))
    assert attacked.delta.endswith(" pts") and attacked.delta.startswith("-")
    assert abs(float(attacked.delta.split()[0]) + fall) <= 0.11  # the drop in points (the figures are rounded)


def test_the_page_in_chinese_has_the_same_numbers(app_env):
    english, chinese = run_app(), run_app({"lang": "zh"})
    assert chinese.title[0].value == "对抗正则化，实时演示"
    assert chinese.session_state["language"] == "zh"
    assert list(metrics(chinese)) == [
        "基础模型，干净样本", "基础模型，FGSM ε 0.2", "对抗正则化模型，干净样本", "对抗正则化模型，FGSM ε 0.2",
        "基础模型，最坏情况", "基础模型，白盒 PGD", "对抗正则化模型，最坏情况", "对抗正则化模型，白盒 PGD"]
    assert list(metrics(chinese).values()) == list(metrics(english).values())
    shown = grids(chinese)
    assert "基础模型：" in shown[0] and "对抗正则化模型：" in shown[1] and "pred" not in shown[0]
    assert [m.delta for m in chinese.metric if m.delta][0].endswith(" 个百分点")
    assert chinese.query_params == {"lang": "zh"}  # the link keeps the language


def test_the_language_selector_redraws_the_page_and_reset_keeps_the_language(app_env):
    at = run_app({"eps": "0.1"})
    assert at.title[0].value == "Adversarial regularization, live"
    at.selectbox(key="language").set_value("zh").run()
    assert not at.exception and at.title[0].value == "对抗正则化，实时演示"
    assert at.query_params == {"eps": "0.1", "lang": "zh"}
    at.button(key="reset").click().run()
    assert at.title[0].value == "对抗正则化，实时演示" and at.query_params == {"lang": "zh"}


def test_an_unknown_language_gives_a_notice_and_english(app_env):
    at = run_app({"lang": "klingon"})
    assert at.title[0].value == "Adversarial regularization, live"
    assert [w for w in notices(at) if "lang=" in w] == [
        "The URL value lang='klingon' is not one of en, zh; using the default."]


def test_the_training_panel_and_url_notices_speak_chinese(app_env):
    at = run_app({"lang": "zh", "mult": "1", "eps": "banana"})
    assert [s.value for s in at.subheader if "尚未训练" in s.value] == ["这组模型尚未训练"]
    plan = " ".join(m.value for m in at.markdown)
    assert "训练在后台进行" in plan and "epochs" not in plan
    assert at.button(key="train").label == "训练这组模型"
    assert [w for w in notices(at) if "eps" in w] == [
        "网址中的值 eps='banana' 不是 [0, 0.5] 范围内适用于 infinity 范数的强度；使用默认值。"]


def test_a_targeted_attack_shows_the_share_read_as_the_target(app_env):
    at = run_app({"target": "3"}, settle=True)
    figures = metrics(at)
    assert {"Base, FGSM ε 0.2 → 3", "Regularized, FGSM ε 0.2 → 3"} <= set(figures), figures
    assert at.selectbox(key="target").value == "3" and at.query_params == {"target": "3"}
    assert any("read as a 3" in c.value for c in at.caption)


def test_only_a_pages_first_run_waits_for_its_turn(app_env, monkeypatch):
    """A page opening takes a turn (openings go one at a time); the open page's later whole runs and its
    fragments never wait for one (advdemo.serving.turns)."""
    import ui.shared
    from advdemo.serving.turns import Turns

    class Counted(Turns):
        taken = 0

        def turn(self):
            Counted.taken += 1
            return super().turn()

    turns = Counted()
    monkeypatch.setattr(ui.shared, "get_turns", lambda: turns)
    at = run_app(settle=False)
    assert Counted.taken == 1
    at.selectbox(key="norm").set_value("l2").run()  # a whole run of the open page
    at.select_slider(key="eps").set_value(0.4).run()  # the results fragment
    assert not at.exception, at.exception
    assert Counted.taken == 1
    run_app(settle=False)  # another student's page opening
    assert Counted.taken == 2
