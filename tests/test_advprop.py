"AdvProp's dual batch norm and the corruption suite, checked against plain models and hand computations."
import copy, pytest, torch, torch.nn as nn, torchvision
from advstudy.advprop import AdvPropHook
from advstudy.layers import DualBatchNorm2d, convert_dual_bn, aux_bn, dual_layers, main_state_dict
from advstudy.corruptions import CORRUPTIONS, corrupt, mce
from advstudy.models import create_model


def test_converted_model_matches_the_original_in_eval_mode():
    torch.manual_seed(0)
    plain = create_model('resnet18', 10, 3, 32, width=0.125)
    plain.train()(torch.rand(16, 3, 32, 32))
    dual = convert_dual_bn(copy.deepcopy(plain)).eval()
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(dual(x), plain.eval()(x))


def test_torchvision_state_dict_loads_both_ways():
    tv = torchvision.models.resnet18(num_classes=10)
    dual = convert_dual_bn(torchvision.models.resnet18(num_classes=10))
    missing, unexpected = dual.load_state_dict(tv.state_dict(), strict=True)
    assert not missing and not unexpected
    torch.testing.assert_close(dual.bn1.aux.weight, tv.bn1.weight)          # the twin starts as the main BN
    torchvision.models.resnet18(num_classes=10).load_state_dict(main_state_dict(dual), strict=True)


def test_advprop_steps_separate_the_statistics_and_the_attack_changes_none():
    torch.manual_seed(0)
    net = create_model('resnet18', 10, 1, 28, width=0.125, dual_bn=True).train()
    hook, opt = AdvPropHook(eps=8/255, alpha=2/255, steps=3), torch.optim.SGD(net.parameters(), lr=0.05)
    first = dual_layers(net)[0]
    for step in range(3):
        x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
        stats = first.running_mean.clone(), first.aux.running_mean.clone()
        xb, yb = hook(net, x, y)
        assert torch.equal(first.running_mean, stats[0]) and torch.equal(first.aux.running_mean, stats[1])
        loss, _ = hook.loss(net, xb, yb)
        opt.zero_grad(); loss.backward(); opt.step()
    assert not torch.allclose(first.running_mean, first.aux.running_mean)


def test_aux_route_is_restored_after_an_exception():
    net = convert_dual_bn(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
    with pytest.raises(KeyError):
        with aux_bn(net):
            assert {m.route for m in dual_layers(net)} == {'aux'}
            raise KeyError('boom')
    assert {m.route for m in dual_layers(net)} == {'main'}
    assert isinstance(net[1], DualBatchNorm2d)


@pytest.mark.parametrize('name', CORRUPTIONS)
def test_corruptions_deterministic_bounded_monotone(name):
    torch.manual_seed(1)
    x = torch.nn.functional.avg_pool2d(torch.rand(8, 1, 30, 30), 3, 1) * 0.8 + 0.1   # 28×28 with structure
    outs = [corrupt(x, name, s, seed=5) for s in range(1, 6)]
    assert torch.equal(outs[2], corrupt(x, name, 3, seed=5))
    assert all(0 <= o.min() and o.max() <= 1 and o.shape == x.shape for o in outs)
    dist = [(o - x).flatten(1).norm(dim=1).mean().item() for o in outs]
    assert all(a <= b + 1e-6 for a, b in zip(dist, dist[1:])), dist


def test_mce_by_hand():
    errors = {'noise': [0.1, 0.1, 0.2, 0.2, 0.4], 'blur': [0.3] * 5}
    base = {'noise': [0.2, 0.2, 0.2, 0.2, 0.2], 'blur': [0.5] * 5}
    r = mce(errors, base)
    assert r['CE'] == pytest.approx({'noise': 100.0, 'blur': 60.0})
    assert r['mCE'] == pytest.approx(80.0)
