"The seed's DenseNet-121 (Keras's ImageNet stem) beside the CIFAR-stem DenseNets, whose models must not change."
import pytest, torch, torch.nn as nn, torchvision
from advstudy.models import create_model, SmallImageDenseNet
from advstudy.studies.fgsm_bim import BUDGETS


def n_params(m: nn.Module) -> int: return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize('channels,size', [(3, 32), (1, 28)])
def test_keras_densenet_gives_logits(channels, size):
    m = create_model('densenet121_keras', 10, channels, size).eval()
    with torch.no_grad(): assert m(torch.rand(2, channels, size, size)).shape == (2, 10)


def test_keras_densenet_stem_is_keras():
    f = create_model('densenet121_keras', 10, 3, 32).net.features
    assert (f.conv0.out_channels, f.conv0.kernel_size, f.conv0.stride, f.conv0.padding) == (64, (7, 7), (2, 2), (3, 3))
    assert isinstance(f.pool0, nn.MaxPool2d) and (f.pool0.kernel_size, f.pool0.stride) == (3, 2)


def test_keras_densenet_has_torchvision_parameters():
    m, tv = create_model('densenet121_keras', 10, 3, 32), torchvision.models.densenet121(num_classes=10)
    assert n_params(m) == n_params(tv) == 6_964_106
    # one channel: the stem loses 7·7·2·64 weights
    assert n_params(create_model('densenet121_keras', 10, 1, 28)) == 6_964_106 - 7 * 7 * 2 * 64


def test_cifar_stem_models_unchanged():
    "The quick and smoke profiles' models keep their names and parameters, so their cached checkpoints still load."
    assert (BUDGETS['smoke'].densenet, BUDGETS['quick'].densenet) == ('densenet_tiny', 'densenet_small')
    assert BUDGETS['paper'].densenet == 'densenet121_keras'
    counts = {(n, c, s): n_params(create_model(n, 10, c, s)) for n in ('densenet_small', 'densenet_tiny', 'densenet121')
              for c, s in ((1, 28), (3, 32))}
    assert counts == {('densenet_small', 1, 28): 46394, ('densenet_small', 3, 32): 46682,
                      ('densenet_tiny', 1, 28): 3602, ('densenet_tiny', 3, 32): 3746,
                      ('densenet121', 1, 28): 6955274, ('densenet121', 3, 32): 6956426}
    f = create_model('densenet_small', 10, 1, 28).net.features
    assert f.conv0.kernel_size == (3, 3) and isinstance(f.pool0, nn.Identity)


@pytest.mark.parametrize('kw,err,msg', [(dict(stem='keras'), ValueError, "stem must be one of ['cifar', 'imagenet']"),
                                        (dict(input_size=0), ValueError, 'input_size must be in [1'),
                                        (dict(in_channels=0), ValueError, 'in_channels must be in [1'),
                                        (dict(block_config=()), ValueError, 'block_config must be a non-empty tuple'),
                                        (dict(growth_rate=2.5), TypeError, 'growth_rate must be an int')])
def test_densenet_rejects_bad_input(kw, err, msg):
    with pytest.raises(err, match=None) as e: SmallImageDenseNet(**kw)
    assert msg in str(e.value)


def test_a_narrow_1x1_convolution_keeps_the_model_nchw():
    "oneDNN's channels-last backward of a 1×1 conv under 8 channels crashes or hangs (torch 2.14.1, x86): NCHW there."
    import torch
    from advstudy.models import create_model
    narrow = create_model('resnet18', num_classes=10, in_channels=1, input_size=28, width=0.0625)
    wide = create_model('resnet18', num_classes=10, in_channels=1, input_size=28, width=0.125)
    conv = lambda m: next(p for p in m.parameters() if p.ndim == 4 and p.shape[1] > 1)   # noqa: E731
    assert conv(narrow).is_contiguous() and not conv(narrow).is_contiguous(memory_format=torch.channels_last)
    assert conv(wide).is_contiguous(memory_format=torch.channels_last)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    torch.nn.functional.cross_entropy(narrow(x), y).backward()   # trains (the crash was in this backward)
