"""The page's view and language in ``st.session_state``.

Widget keys and values come from :mod:`advdemo.page.viewstate`.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from advdemo.core.config import (
    FAST_RECIPE,
    NORM_SPECS,
    TRAINING_SPECS,
    AttackMethod,
    Norm,
    TrainingAttack,
    robust_epochs,
    robust_pgd_iterations,
)
from advdemo.i18n import DEFAULT_LANGUAGE, LANG_PARAM, Catalogue, Language, catalogue, choose_language
from advdemo.page import viewstate
from advdemo.page.lesson import LESSON
from advdemo.page.viewstate import CUSTOM, ViewState
from ui.shared import get_service

#: The language selector's key in the session state.
LANGUAGE = "language"


def arrive() -> None:
    """Once per session: set every widget from the URL, the language from the URL or else the browser's,
    and keep the URL's notices for the page."""
    if "view_ready" in st.session_state:
        return
    raw = {name: st.query_params.get_all(name) for name in st.query_params}
    start, notices = viewstate.parse_query(raw, snap=get_service().limits.hosted)
    show(start)
    st.session_state.update(url_notices=notices, arrival_view=start, view_ready=True, lesson=None)
    st.session_state[LANGUAGE] = choose_language(st.query_params.get(LANG_PARAM), st.context.locale).value


def url_notices() -> list:
    """The link's notices, while the view is still the one the link gave (a redraw when a number
    arrives keeps them; the reader's first move of a control clears them)."""
    if st.session_state.url_notices and current() != st.session_state.get("arrival_view"):
        st.session_state.url_notices = []
    return st.session_state.url_notices


def language() -> Language:
    return Language(st.session_state.get(LANGUAGE, DEFAULT_LANGUAGE.value))


def tr() -> Catalogue:
    """The catalogue of the page's current language."""
    return catalogue(language())


def keep_hidden_values() -> None:
    """Streamlit forgets a widget's value when the widget is not drawn in a run. Re-setting every
    view widget's value before any is drawn keeps, say, the PGD iterations through a spell of FGSM
    and the FGSM norm through a spell of robust training."""
    for key in viewstate.WIDGET_DEFAULTS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def owner() -> str:
    """This browser session's id for the training queue (one job per session)."""
    return st.session_state.setdefault("owner", uuid.uuid4().hex)


def show(view: ViewState) -> None:
    """Set every widget to ``view`` (before the widgets are drawn: at arrival, or in a callback)."""
    st.session_state.update(viewstate.to_widgets(view))


def current() -> ViewState:
    return viewstate.from_widgets(st.session_state.get)


def url_query() -> dict[str, str]:
    """The URL's parameters: the view's (only those that differ from the defaults) and the language."""
    query = viewstate.to_query(current())
    if language() is not DEFAULT_LANGUAGE:
        query[LANG_PARAM] = language().value
    return query


def write_url() -> None:
    st.query_params.from_dict(url_query())


# -- callbacks: one control changes others ------------------------------------------------------

def _snap_to_grid() -> None:
    """Move the training controls to the nearest pretrained values (the grid sliders' options)."""
    snapped = viewstate.nearest_on_grid(current())
    st.session_state.update(step=snapped.step, mult=snapped.multiplier, teps=snapped.train_eps)


def on_norm_change() -> None:
    spec = NORM_SPECS[Norm(st.session_state.norm)]
    st.session_state.step = spec.default_step
    if not spec.grid_steps:  # L1 has no pretrained grid
        st.session_state[CUSTOM] = True
    on_custom_change()


def on_custom_change() -> None:
    """Unchecked, the training controls snap to the grid; checked, the robust recipe's own steps and
    epochs for the ball are where its sliders start."""
    if not st.session_state[CUSTOM]:
        _snap_to_grid()
        return
    view = current()
    st.session_state.update(titers=robust_pgd_iterations(view.train_eps),
                            tepochs=robust_epochs(view.train_attack, view.train_eps), tbatch=FAST_RECIPE.batch_size)


def on_training_change() -> None:
    robust = TRAINING_SPECS[TrainingAttack(st.session_state.tattack)].robust
    if not robust and not NORM_SPECS[current().norm].grid_steps:
        st.session_state[CUSTOM] = True  # back to L1, which has no pretrained grid
    on_custom_change()


def on_attack_norm_change() -> None:
    norm = Norm(st.session_state.anorm)
    st.session_state.eps = NORM_SPECS[norm].default_step
    if AttackMethod(st.session_state.attack) not in AttackMethod.for_norm(norm):
        st.session_state.attack = ViewState().attack.value


#: Set by a callback inside a fragment whose change reaches beyond it: the whole page must redraw.
REDRAW_PAGE = "redraw_page"


def reset() -> None:
    """Every control back to the tutorial's configuration and attack (a callback: it runs before any widget)."""
    show(viewstate.DEFAULT)
    st.session_state.lesson = None
    st.session_state[REDRAW_PAGE] = True


def share_url() -> str:
    """The page's address with the current view: opens it as it is now (never the user's own digit)."""
    parts = urlsplit(st.context.url or "")
    query = urlencode(url_query())
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def start_lesson_step(i: int) -> None:
    show(LESSON[i].view)
    st.session_state.lesson = i


def rerun_results() -> None:
    """Redraw only the results fragment: the model and the controls themselves stay as they are."""
    st.rerun("results")
