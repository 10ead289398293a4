from advdemo.core.config import TUTORIAL
from advdemo.core.model import build_base_model


def test_the_tutorials_cnn_exactly():
    model = build_base_model(TUTORIAL)
    assert model.count_params() == 93_322
    assert model.input_names == ["image"]
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense"]
    assert model.layers[-1].activation.__name__ == "linear"  # logits out
