"""The page's Streamlit parts. They place widgets and call :mod:`advdemo`; nothing here computes.

``advdemo`` never imports Streamlit; this package is the only code that does, besides ``app.py``.
"""
