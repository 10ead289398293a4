"""The command line (``advdemo …``): its commands, its progress bar, and the pipelines only it runs
(``reproduce``, ``prepare``).

May import: every layer.
Never: Streamlit.
"""
