"""The nets of the seed papers' experiments as ``bitsim.nn`` layer lists (NCHW inputs).

- ``mlp``: 784-256-256-10 on 28x28 images (Wang et al. 2018 and Fox et al. 2021 use MLPs of this kind); on
  other image sizes the input width follows the image.
- ``lenet5``: LeNet-5 (LeCun et al. 1998) as usually trained on 28x28 MNIST-like images: C6@5x5 pad 2,
  MaxPool 2, C16@5x5, MaxPool 2, FC 120, FC 84, FC 10, ReLU activations (the original's scaled tanh and
  subsampling layers with trainable weights are replaced, as in the seed papers' reference code).
- ``lenet5_bn``: ``lenet5`` with a ``BatchNorm`` (fp32, RNE; ``bitsim.nn.norm``) after each convolution,
  whose bias it replaces.
- ``wage_cnn``: WAGE's MNIST net (Wu et al. 2018, section 4): 32C5-MP2-64C5-MP2-512FC-10, ReLU.
"""

from __future__ import annotations

import bitsim.nn as nn

NETS = ("mlp", "lenet5", "lenet5_bn", "wage_cnn")


def _check_image(name: str, image_shape, need: int | None = None) -> tuple[int, int, int]:
    if len(image_shape) != 3 or any(int(v) < 1 for v in image_shape):
        raise ValueError(f"{name}: image_shape must be (channels, height, width); got {tuple(image_shape)}")
    c, h, w = (int(v) for v in image_shape)
    if need is not None and (h < need or w < need):
        raise ValueError(f"{name}: needs images of at least {need}x{need}; got {h}x{w} (use the mlp)")
    return c, h, w


def mlp(image_shape=(1, 28, 28), n_classes: int = 10, hidden=(256, 256), bias: bool = True) -> list:
    """Flatten, then Linear-ReLU per hidden width, then Linear to the classes."""
    c, h, w = _check_image("mlp", image_shape)
    widths = (c * h * w, *hidden)
    layers = [nn.Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += [nn.Linear(fan_in, fan_out, bias), nn.ReLU()]
    return layers + [nn.Linear(widths[-1], n_classes, bias)]


def lenet5(image_shape=(1, 28, 28), n_classes: int = 10, bias: bool = True) -> list:
    """LeNet-5 with ReLU and max pooling (module doc)."""
    c, h, w = _check_image("lenet5", image_shape, need=20)
    h2, w2 = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    return [nn.Conv2d(c, 6, 5, padding=2, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, bias=bias), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * h2 * w2, 120, bias), nn.ReLU(), nn.Linear(120, 84, bias), nn.ReLU(),
            nn.Linear(84, n_classes, bias)]


def lenet5_bn(image_shape=(1, 28, 28), n_classes: int = 10, bias: bool = True) -> list:
    """``lenet5`` with BatchNorm after each convolution (convolutions without bias; module doc)."""
    layers = lenet5(image_shape, n_classes, bias)
    c = _check_image("lenet5_bn", image_shape, need=20)[0]
    layers[0] = nn.Conv2d(c, 6, 5, padding=2, bias=False)
    layers[3] = nn.Conv2d(6, 16, 5, bias=False)
    return layers[:1] + [nn.BatchNorm(6)] + layers[1:4] + [nn.BatchNorm(16)] + layers[4:]


def wage_cnn(image_shape=(1, 28, 28), n_classes: int = 10, bias: bool = True) -> list:
    """WAGE's 32C5-MP2-64C5-MP2-512FC-10 (valid convolutions), ReLU."""
    c, h, w = _check_image("wage_cnn", image_shape, need=20)
    h2, w2 = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
    return [nn.Conv2d(c, 32, 5, bias=bias), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, bias=bias), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * h2 * w2, 512, bias), nn.ReLU(),
            nn.Linear(512, n_classes, bias)]


def build(name: str, image_shape, n_classes: int, recipe: str, seed: int, hidden=(256, 256)) -> nn.Sequential:
    """The net ``name`` as a ``Sequential`` under ``recipe`` with initial weights from ``seed`` (``hidden``:
    the mlp's widths). Layers have biases unless the recipe's ``training`` says ``"bias": False`` (WAGE)."""
    makers = {"mlp": lambda s, c, b: mlp(s, c, hidden, b), "lenet5": lenet5, "lenet5_bn": lenet5_bn,
              "wage_cnn": wage_cnn}
    if name not in makers:
        raise ValueError(f"unknown net {name!r}; known: {', '.join(NETS)}")
    bias = bool(nn.get_recipe(recipe).training.get("bias", True))
    return nn.Sequential(makers[name](image_shape, n_classes, bias), recipe=recipe, seed=seed)
