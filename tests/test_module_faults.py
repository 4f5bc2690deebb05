"""Bad input to the newer modules (issue 28): each kind of misuse refused with an error naming the argument."""
import math
import pandas as pd, pytest, torch, torch.nn as nn
from advstudy.regularize import activity_ratio, weight_density
from advstudy.corruptions import mce, mean_error
from advstudy.layers import convert_dual_bn, dual_layers
from advstudy.report import mean_std
from advstudy.attacks.base import project_ball, project, grad_step, random_delta
from advstudy.core import save_tensors, load_tensors
from advstudy.models import load_weights, save_weights
from advstudy.nar import NarResNet, NarSupernet, Controller, SearchConfig, search
from advstudy.data import ImageSet, DatasetInfo


def net(channels: int = 1) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)]
    return nn.Sequential(*layers)


def test_regularize_refuses_non_finite_images_and_weights():
    x = torch.rand(4, 1, 6, 6)
    assert 0 <= activity_ratio(net(), x, '2') <= 1
    with pytest.raises(ValueError, match='images must be finite'): activity_ratio(net(), x * float('nan'), '2')
    with pytest.raises(ValueError, match="images must have the model's 1 channel"):
        activity_ratio(net(), torch.rand(4, 3, 6, 6), '2')
    with pytest.raises(TypeError, match='model must be a torch.nn.Module'): activity_ratio('resnet18', x, '2')
    broken = net()
    broken[0].weight.data[0, 0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match="model's weights must be finite"): weight_density(broken)


def test_corruption_errors_must_be_fractions():
    frac = {'gaussian_noise': [0.1, 0.2, 0.3, 0.4, 0.5]}
    assert mce(frac, frac)['mCE'] == pytest.approx(100)
    percent = {'gaussian_noise': [10, 20, 30, 40, 50]}
    with pytest.raises(ValueError, match=r"errors\['gaussian_noise'\] must hold error rates as fractions"):
        mce(percent, frac)
    with pytest.raises(ValueError, match='fractions in'): mean_error({'gaussian_noise': [0.1] * 4 + [math.nan]})


def test_converting_twice_adds_no_second_twin():
    once = convert_dual_bn(net())
    keys = set(once.state_dict())
    twice = convert_dual_bn(once)
    assert set(twice.state_dict()) == keys and len(dual_layers(twice)) == 1
    net_again = convert_dual_bn(net())
    net_again.load_state_dict(twice.state_dict())   # strict: the keys still match a once-converted model


def test_mean_std_says_when_a_value_is_missing():
    df = pd.DataFrame({'method': ['a'] * 4, 'acc': [1.0, 2.0, math.nan, 3.0]})
    row = mean_std(df, 'method', 'acc').iloc[0]
    assert row['acc'] == '2.000 ± 1.000 (3 of 4)' and row['n'] == 4   # not silently n = 3


@pytest.mark.parametrize('call', [lambda: project_ball(torch.zeros(2, 3), 0.1, norm='l3'),
                                  lambda: project(torch.zeros(2, 3), torch.zeros(2, 3), 0.1, norm='l3'),
                                  lambda: grad_step(torch.zeros(2, 3), torch.ones(2, 3), 0.1, norm='l3'),
                                  lambda: random_delta((2, 3), 0.1, norm='l3')])
def test_an_unknown_norm_is_refused_not_read_as_l2(call):
    with pytest.raises(ValueError, match="norm must be one of"): call()


def test_truncated_files_name_the_file(tmp_path):
    save_tensors(tmp_path/'p.safetensors', {'x': torch.ones(3)}, eps=0.1)
    (tmp_path/'p.safetensors').write_bytes((tmp_path/'p.safetensors').read_bytes()[:20])
    with pytest.raises(ValueError, match=r"p\.safetensors' is not a readable safetensors file"):
        load_tensors(tmp_path/'p.safetensors')
    save_weights(net(), tmp_path/'w.safetensors')
    (tmp_path/'w.safetensors').write_bytes((tmp_path/'w.safetensors').read_bytes()[:30])
    with pytest.raises(ValueError, match=r"w\.safetensors' is not a readable safetensors file"):
        load_weights(net(), tmp_path/'w.safetensors')


def test_nar_refuses_configurations_that_cannot_work():
    with pytest.raises(ValueError, match='width must be in'): NarResNet([0] * 8, 'block', width=0)
    with pytest.raises(ValueError, match='num_classes must be in'): NarResNet([0] * 8, 'block', num_classes=0)
    with pytest.raises(ValueError, match='temperature must be in'): Controller(8, temperature=0)
    with pytest.raises(ValueError, match='lr must be in'): SearchConfig(lr=-0.05)
    info = DatasetInfo('toy', tuple('ab'), (0.5,), (0.5,), in_channels=1, size=8)
    toy = ImageSet(torch.zeros(8, 1, 8, 8, dtype=torch.uint8), torch.arange(8) % 2, info)
    sup = NarSupernet('block', num_classes=2, in_channels=1, width=0.0625, imagenet_stem=False)
    cfg = SearchConfig(epochs=1, batch_size=4, controller_steps=1, aggregate=1, val_batch=4)
    with pytest.raises(TypeError, match='cfg must be a SearchConfig'):
        search(sup, Controller(8), toy, toy, cfg={'epochs': 1}, input_size=8)
    with pytest.raises(ValueError, match='val_ds must hold at least one image'):
        search(sup, Controller(8), toy, toy.subset([]), cfg=cfg, input_size=8)
    with pytest.raises(ValueError, match='controller must choose 8 positions'):
        search(sup, Controller(16), toy, toy, cfg=cfg, input_size=8)


def test_attribution_refuses_misuse_and_leaves_the_model_as_found():
    from advstudy.attribution import gradcam, occlusion, gradcam_stability
    model = net(3).train()   # train mode: a BN whose running statistics a careless pass would move
    x = torch.rand(2, 3, 6, 6)
    with pytest.raises(ValueError, match="images must have the model's 3 channels"):
        gradcam(model, x[:, :1], layer=model[0])
    with pytest.raises(ValueError, match='layer must be a module of the model'):
        gradcam(model, x, layer=nn.Conv2d(3, 4, 3))
    with pytest.raises(RuntimeError, match='inference_mode'):
        with torch.inference_mode(): gradcam(model, x, layer=model[0])
    with pytest.raises(ValueError, match='at least one image'): occlusion(model, x[:0])
    with pytest.raises(TypeError, match='model must be a torch.nn.Module'): occlusion('resnet18', x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradcam_stability(model, x, layer=model[0])
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
