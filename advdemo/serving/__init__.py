"""Serving the page: the service a session talks to, its measurements, and the shared, bounded jobs that
run heavy work outside every page's run (queue, engines, worker process, rerun gate).

May import: the utilities, :mod:`advdemo.core`, :mod:`advdemo.store` and :mod:`advdemo.experiments`.
Never: Streamlit, the page's wording and pictures (:mod:`advdemo.page`), the command line.
"""
