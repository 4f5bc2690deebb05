"NAR's search space: ResNet-18 counts against torchvision, the seed's Table 4 vectors, and bad architectures."
import pytest, torch, torchvision
from advstudy.nar import NarResNet, count, seed_vector, SEED_TABLE4, GRANULARITIES


def test_all_conv_is_torchvision_resnet18():
    tv = count(torchvision.models.resnet18())
    assert tv['params'] == 11_689_512
    for g, n in GRANULARITIES.items(): assert count(NarResNet([0] * n, g)) == tv


@pytest.mark.parametrize('name', list(SEED_TABLE4))
def test_seed_vectors_match_table4(name):
    g, vec, params, macs = SEED_TABLE4[name]
    ours, base = count(NarResNet(seed_vector(vec, g), g)), count(torchvision.models.resnet18())
    assert abs(ours['params'] / params - 1) < 0.05 and abs(ours['macs'] / macs - 1) < 0.05
    assert abs((1 - ours['macs'] / base['macs']) - (1 - macs / 1.76e9)) < 0.03


@pytest.mark.parametrize('arch, g, msg', [([0] * 15, 'conv', 'arch must be a list of 16'),
                                          ([0] * 7 + [9], 'block', 'arch code must be in [0, 3]'),
                                          ([0] * 8, 'layer', 'granularity must be one of')])
def test_bad_architectures_are_refused(arch, g, msg):
    with pytest.raises(ValueError, match=msg.replace('[', r'\[').replace(']', r'\]')): NarResNet(arch, g)


def test_small_images():
    m = NarResNet([2, 1, 3, 0, 1, 2, 3, 0], 'block', num_classes=10, in_channels=1, width=0.125, imagenet_stem=False)
    assert m(torch.rand(2, 1, 28, 28)).shape == (2, 10)
