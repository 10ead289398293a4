"""advdemo: the NSL tutorial "Adversarial regularization for image classification" as a library.

Light to import: TensorFlow is loaded only by the modules that need it
(through :mod:`advdemo.compat`).
"""

__version__ = "0.1.0"
