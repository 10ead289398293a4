"""The model store: weights-only model files verified by hash, their manifest, and model pairs.

May import: the utilities and :mod:`advdemo.core` (the network to load weights into, the configuration
that names a model).
Never: anything that computes a measurement or trains (the store only reads and writes), and any layer
above.
"""
