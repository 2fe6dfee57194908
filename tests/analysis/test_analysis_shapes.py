"""The discriminator layer shapes used by the theory checks (docs/design.md#cnn-models, docs/design.md#resnet-models)."""

import specnorm  # noqa: F401
from specnorm.analysis.shapes import all_d_layers, cnn_d_layers, mlp_d_layers, resnet_d_layers


def test_cnn_d_matches_the_official_table():
    layers = cnn_d_layers(32)
    assert [(sh.m, sh.n) for sh in layers] == [
        (64, 27), (64, 1024), (128, 576), (128, 2048), (256, 1152), (256, 4096), (512, 2304), (1, 8192),
    ]
    assert [sh.input_size for sh in layers[:7]] == [32, 32, 16, 16, 8, 8, 4]
    assert [sh.stride for sh in layers[:7]] == [1, 2, 1, 2, 1, 2, 1]
    assert cnn_d_layers(48)[-1].n == 18432 and cnn_d_layers(64)[-1].n == 32768


def test_cnn_d_with_narrow_channels():
    layers = cnn_d_layers(16, (2, 2, 4, 4, 8, 8, 16))
    assert layers[0].c_in == 3 and layers[6].c_out == 16 and layers[-1].n == 16 * 2 * 2


def test_resnet_d_shapes():
    layers = resnet_d_layers()
    assert len(layers) == 6 * 3 + 1
    shortcuts = [(sh.m, sh.n) for sh in layers if sh.layer.endswith("shortcut")]
    assert shortcuts == [(64, 3), (128, 64), (256, 128), (512, 256), (1024, 512), (1024, 1024)]
    assert (1024, 9216) in {(sh.m, sh.n) for sh in layers} and layers[-1].n == 1024


def test_mlp_and_union():
    assert [(sh.m, sh.n) for sh in mlp_d_layers()] == [(512, 784), (512, 512), (512, 512), (512, 512), (1, 512)]
    labels = [sh.label for sh in all_d_layers()]
    assert len(labels) == len(set(labels)) == 7 + 3 + 19 + 5
    assert "cnn:conv0" in labels and "cnn64:linear" in labels and "mlp:fc4" in labels
