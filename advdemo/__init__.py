"""advdemo: the NSL tutorial "Adversarial regularization for image classification" as a library.

Light to import: TensorFlow is loaded only by the modules that need it
(through :mod:`advdemo.core.compat`).
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("advdemo")  # written once, in pyproject.toml
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
