"""The ML core: configuration, data, the network, training, attacks, evaluations and their typed results.

Everything here works on arrays and Keras models that the caller hands in.

May import: the utilities (:mod:`advdemo.logs`, :mod:`advdemo.memo`, :mod:`advdemo.environment`,
:mod:`advdemo.i18n`) and the rest of ``core``.
Never: the model store or its manifest, and any layer above (the core never reads or writes the store;
:mod:`advdemo.core.data` reads MNIST, and training may keep checkpoints in a folder it is given).
"""
