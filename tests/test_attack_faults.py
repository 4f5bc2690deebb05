"""Attacks and evaluation against faulty models and misused inputs (issue 13, section 4): a model with NaN or inf
logits, images of the wrong channel count, `torch.inference_mode()`, and (kept working) `torch.no_grad()`."""
import pytest, torch, torch.nn as nn
from advstudy.attacks import (fgsm, bim, pgd, deepfool, minimal_step, cw_l2, c_uap, f_uap, cd_uap, FGSM,
                              evaluate_perturbation, apgd, square, fab_t)
from advstudy.masking import masking_checks
from advstudy.geometry import reverse_cost, boundary_distance, random_directions
from advstudy.evaluate import evaluate, predict, accuracy, steps_sweep, craft
from advstudy.data import ImageSet, DatasetInfo

SIZE = 6


class Net(nn.Module):
    "A small conv net on `channels`×6×6 images, 3 classes; `bad` is added to its logits (NaN or inf: a broken model)."
    def __init__(self, channels: int = 1, bad: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * SIZE * SIZE, 3))
        self.bad = bad
    def forward(self, x): return self.net(x) + self.bad


def toy(channels: int = 1) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (8, channels, SIZE, SIZE), generator=g, dtype=torch.uint8)
    info = DatasetInfo('toy', tuple('abc'), (0.5,) * channels, (0.5,) * channels, in_channels=channels, size=SIZE)
    return ImageSet(imgs, torch.arange(8) % 3, info)


# every attack, on images (x, y) or on their dataset `ds`, with settings small enough for a test
ATTACKS = {
    'fgsm': lambda m, x, y, ds: fgsm(m, x, y),
    'bim': lambda m, x, y, ds: bim(m, x, y, steps=2),
    'pgd': lambda m, x, y, ds: pgd(m, x, y, steps=2),
    'pgd_l2_restarts': lambda m, x, y, ds: pgd(m, x, y, eps=0.5, steps=2, norm='l2', restarts=2),
    'pgd_targeted': lambda m, x, y, ds: pgd(m, x, y, steps=2, target='least_likely'),
    'deepfool': lambda m, x, y, ds: deepfool(m, x, y, steps=3),
    'minimal_step': lambda m, x, y, ds: minimal_step(m, x, y)[1],
    'cw': lambda m, x, y, ds: cw_l2(m, x, y, steps=3, search_steps=2),
    'c_uap': lambda m, x, y, ds: c_uap(m, ds, eps=0.2, epochs=1, deepfool_steps=3, device='cpu'),
    'f_uap': lambda m, x, y, ds: f_uap(m, ds, eps=0.1, epochs=1, batch_size=4, device='cpu'),
    'cd_uap': lambda m, x, y, ds: cd_uap(m, ds, eps=0.1, targeted_classes=[0], epochs=1, batch_size=4, device='cpu'),
    'reverse_cost': lambda m, x, y, ds: reverse_cost(m, x, (y + 1) % 3, steps=2),
    'apgd': lambda m, x, y, ds: apgd(m, x, y, steps=3),
    'apgd_dlr_l2': lambda m, x, y, ds: apgd(m, x, y, eps=0.5, steps=3, norm='l2', loss='dlr', restarts=2),
    'square': lambda m, x, y, ds: square(m, x, y, steps=3),
    'square_l2': lambda m, x, y, ds: square(m, x, y, eps=0.5, steps=3, norm='l2'),
    'fab_t': lambda m, x, y, ds: fab_t(m, x, y, steps=2, n_targets=2),
    'masking_checks': lambda m, x, y, ds: torch.tensor([v is True for v in masking_checks(
        m, x, y, eps=0.1, steps=2, restarts=2, queries=3)['passed']]),
    'steps_sweep': lambda m, x, y, ds: steps_sweep(m, ds, lambda a, b, callback: bim(m, a, b, steps=2,
                                                                                     callback=callback), [1, 2]),
}
# what only runs the model forward
EVALS = {
    'predict': lambda m, x, y, ds: predict(m, ds, device='cpu')['logits'],
    'evaluate': lambda m, x, y, ds: evaluate(m, ds, device='cpu')['clean_acc'],
    'accuracy': lambda m, x, y, ds: accuracy(m, x, y, device='cpu'),
    'evaluate_perturbation': lambda m, x, y, ds: evaluate_perturbation(m, ds, torch.zeros(x.shape[1:]),
                                                                      device='cpu')['fooling_rate'],
    'boundary_distance': lambda m, x, y, ds: boundary_distance(m, x, random_directions(4, x.shape[1:]), alpha=0.1,
                                                               eps=0.3),
}
ALL = {**ATTACKS, **EVALS}


def inputs(channels: int = 1):
    ds = toy(channels)
    x, y = ds.batch(range(len(ds)))
    return x, y, ds


@pytest.mark.parametrize('bad', [float('nan'), float('inf')], ids=['nan', 'inf'])
@pytest.mark.parametrize('name', list(ALL))
def test_non_finite_logits_raise(name, bad):
    "Argmax of NaN logits counts as 'fooled': every attack used to report 100% success at L2 = 0, evaluate an accuracy."
    with pytest.raises(FloatingPointError, match='model returned non-finite logits'):
        ALL[name](Net(bad=bad), *inputs())


def test_non_finite_logits_mid_attack_raise():
    "A model finite on the clean images but not on the attacked ones is caught at the step that reaches them."
    class Fragile(Net):  # inf logits once a pixel passes 0.99
        def forward(self, x):
            return self.net(x) + torch.where((x.flatten(1) > 0.99).any(1, keepdim=True), float('inf'), 0.)
    x, y, _ = inputs()
    x = x * 0.9
    with pytest.raises(FloatingPointError, match='model returned non-finite logits'):
        bim(Fragile(), x, y, eps=0.2, alpha=0.1, steps=3)
    with pytest.raises(FloatingPointError, match='model returned non-finite logits'):
        fgsm(Fragile(), x, y, eps=0.2, return_info=True)          # the success flags are computed on NaN logits


@pytest.mark.parametrize('model_channels,image_channels', [(3, 1), (1, 3)])
@pytest.mark.parametrize('name', list(ALL))
def test_wrong_channel_count_is_refused(name, model_channels, image_channels):
    "1-channel images into a 3-channel model were broadcast by the normalization silently; 3 into 1 a raw conv error."
    s = 's' if model_channels > 1 else ''
    with pytest.raises(ValueError, match=rf'images must have the model\'s {model_channels} channel{s}, '
                                         rf'got {image_channels}'):
        ALL[name](Net(model_channels), *inputs(image_channels))


def test_declared_in_channels_wins():
    "A model may declare `in_channels`; without it (and without a conv) nothing is checked."
    m = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 3))
    x, y, _ = inputs()
    assert fgsm(m, x, y).shape == x.shape                       # no conv, nothing declared: not checked
    m.in_channels = 3
    with pytest.raises(ValueError, match="images must have the model's 3 channels, got 1"): fgsm(m, x, y)


@pytest.mark.parametrize('name', list(ATTACKS))
def test_attacks_refuse_inference_mode(name):
    "Attacks need gradients: inside inference_mode they used to fail with a raw autograd error."
    m, (x, y, ds) = Net(), inputs()
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r'outside torch\.inference_mode\(\)'):
        ATTACKS[name](m, x, y, ds)


def test_evaluate_with_an_attack_refuses_inference_mode():
    m, ds = Net(), toy()
    with torch.inference_mode():
        assert 0 <= evaluate(m, ds, device='cpu')['clean_acc'] <= 1     # no attack: no gradient needed, fine
        with pytest.raises(RuntimeError, match=r'outside torch\.inference_mode\(\)'):
            evaluate(m, ds, attack=FGSM(m), device='cpu')
        with pytest.raises(RuntimeError, match=r'outside torch\.inference_mode\(\)'): craft(FGSM(m), ds, device='cpu')


@pytest.mark.parametrize('name', list(EVALS))
def test_forward_only_work_under_inference_mode(name):
    m, args = Net(), inputs()
    want = EVALS[name](m, *args)
    with torch.inference_mode(): got = EVALS[name](m, *args)
    assert torch.equal(torch.as_tensor(got), torch.as_tensor(want))


@pytest.mark.parametrize('name', list(ATTACKS))
def test_attacks_work_under_no_grad_and_on_inference_tensors(name):
    "Attacks enable gradients locally: under no_grad, and on images made under inference_mode, the result is the same."
    m, (x, y, ds) = Net(), inputs()
    want = ATTACKS[name](m, x, y, ds)
    same = lambda got: torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)   # RC: NaN = unreached
    with torch.no_grad(): same(ATTACKS[name](m, x, y, ds))
    with torch.inference_mode(): xi = x.clone()
    assert xi.is_inference()
    same(ATTACKS[name](m, xi, y, ds))
