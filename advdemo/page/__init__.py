"""What the page says and draws, without Streamlit: the view state and its URL, the lesson, texts with
their numbers, charts, pictures and exports.

May import: every layer below (the utilities, core, store, experiments, serving).
Never: Streamlit (``app.py`` and ``ui/`` wire the widgets), the command line.
"""
