"""The lesson's last step end to end in a real browser: one click trains the live robust recipe on a hosted
server, the page draws its robustness as it learns, and puts its measured worst case in the table."""

from __future__ import annotations

import os

import pytest
from browser_support import SETTLED, streamlit_server
from conftest import write_mnist_subset

from advdemo.core.config import LIVE_ROBUST
from advdemo.page.lesson import LESSON

pytestmark = pytest.mark.browser


@pytest.fixture
def hosted_server(app_env, tmp_path):
    # A tiny recipe for speed: the live recipe on 2,560 training digits (10 batches an epoch), so its epochs,
    # and the probe after each, come a few seconds apart; the real job engine, hosted limits.
    data = tmp_path / "mnist-lesson"
    write_mnist_subset(data, n_train=2560, n_test=128)
    env = {k: v for k, v in os.environ.items() if k != "ADVDEMO_JOB_ENGINE"}
    env.update(ADVDEMO_MNIST_DIR=str(data), ADVDEMO_HOSTED="1")
    with streamlit_server(env, timeout_s=60) as (url, _):
        yield url


def test_the_last_lesson_step_trains_a_robust_model_live_and_measures_it(hosted_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(hosted_server)
    page.wait_for_selector(SETTLED, timeout=90_000)
    page.get_by_text("A six-step lesson", exact=False).first.click()
    step = str(LESSON[-1].title)
    page.get_by_role("button", name=step).click()
    page.get_by_text("Your model beside the shipped one").wait_for(timeout=60_000)
    page.wait_for_selector(SETTLED, timeout=60_000)
    assert f"titers={LIVE_ROBUST.adv_pgd_iterations}" in page.url and f"tbatch={LIVE_ROBUST.batch(True)}" in page.url
    page.get_by_role("button", name="Train these models").click()
    # The probe's lines appear while the model still trains (its progress bar and cancel button are up).
    page.get_by_text("after each epoch of its training", exact=False).first.wait_for(timeout=180_000)
    assert page.get_by_role("button", name="Cancel training").count() == 1
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
    # When it ends, the page shows the model, and the table fills in its strong evaluation by itself.
    page.wait_for_selector(".advdemo-grid", timeout=300_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stTable'] tr")]
                 .some(r => r.innerText.includes("Trained here") && /\\d+\\.\\d%/.test(r.innerText))""",
        timeout=300_000)
    rows = page.locator("[data-testid='stTable'] tr").filter(has_text="Trained here").all_inner_texts()
    assert rows and "%" in rows[0]
