"""Experiments: training and measuring models into the store, the sweep over the grid, AutoAttack's
records, and the reports read back from the manifest.

May import: the utilities, :mod:`advdemo.core` and :mod:`advdemo.store`.
Never: the page's serving machinery (jobs, sessions), the page's wording and pictures, the command line.
"""
