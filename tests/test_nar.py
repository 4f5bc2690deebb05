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


def test_supernet_path_is_the_standalone_child():
    from advstudy.nar import NarSupernet, child_state_dict
    torch.manual_seed(0)
    sup = NarSupernet('conv', num_classes=10, in_channels=1, width=0.125, imagenet_stem=False)
    x = torch.rand(4, 1, 28, 28)
    for arch in ([0] * 16, [1, 2, 3, 0] * 4):
        solo = NarResNet(arch, 'conv', num_classes=10, in_channels=1, width=0.125, imagenet_stem=False)
        solo.load_state_dict(child_state_dict(sup, arch))
        sup.eval(), solo.eval()
        assert torch.equal(sup(x, arch), solo(x))


def test_matched_random_and_replaced():
    from advstudy.nar import matched_random, replaced
    arch = [0, 1, 0, 0, 2, 0, 0, 3]
    near = matched_random(arch, 'block', 2, width=0.125, tolerance=0.15, seed=3).archs
    target = count(NarResNet(arch, 'block', in_channels=1, width=0.125, imagenet_stem=False), 28, 1)['macs']
    for a in near:
        m = count(NarResNet(a, 'block', in_channels=1, width=0.125, imagenet_stem=False), 28, 1)['macs']
        assert a != arch and abs(m / target - 1) <= 0.15
    assert replaced(arch) == [1, 4, 7]
    with pytest.raises(ValueError, match='n must be'): matched_random(arch, 'block', -1)
