"Every public function rejects bad input with a ValueError/TypeError that names the argument and the allowed range."
import torch, torch.nn as nn, pytest
from advstudy.core import get_profile, get_device, seed_everything, config_key
from advstudy.data import get_dataset, balanced_indices, train_val_split, iterate_batches, ImageSet, DatasetInfo
from advstudy.models import create_model, load_weights
from advstudy.train import TrainConfig
from advstudy.attacks import (FGSM, BIM, PGD, DeepFool, CW, fgsm, bim, pgd, deepfool, cw_l2, kurakin_steps, attack_info,
                              c_uap, f_uap, cd_uap, apply_perturbation, load_perturbation, save_perturbation)
from advstudy.bench import replay_passes, time_best
from advstudy.geometry import reverse_cost, boundary_distance, random_directions
from advstudy.defenses import MadryHook, SATHook, UATHook, CoAMHook
from advstudy.train import fit
from advstudy.core import cached
from advstudy.study import setup_study, study_budget
from advstudy.evaluate import per_class_accuracy, eps_sweep, evaluate
from advstudy.reproduce import reproduce, main
from advstudy.report import (compare, ordering, combine, threshold, trend, mean_std, compare_images, no_worse,
                             equivalent, all_of)
from advstudy.plots import plot_claims
from advstudy.regularize import Regularized, weight_penalty, activity_ratio, weight_density, layer_of
from advstudy.attribution import gradcam, occlusion, ssd, blur
from advstudy.evaluate import craft, accuracy
from advstudy.data import append_images
from advstudy.advprop import AdvPropHook, fgsm_objective_hook
from advstudy.layers import convert_dual_bn, aux_bn
from advstudy.corruptions import corrupt, mce

model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
toy_ds = ImageSet((x * 255).to(torch.uint8), y, DatasetInfo('toy', tuple('abc'), (0.5,), (0.5,), in_channels=1, size=2))
empty_ds = toy_ds.subset([])
rgb_model = nn.Sequential(nn.Conv2d(3, 1, 1), nn.Flatten(), nn.Linear(4, 3))     # takes 3 channels; x has 1
two_class_model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))                    # y holds class 2

CASES = [
    (lambda: FGSM(model, eps=-0.1), ValueError, 'eps must be in [0, 1]'),
    (lambda: FGSM(model, eps=8), ValueError, 'eps must be in [0, 1]'),
    (lambda: FGSM(model, eps='8/255'), TypeError, 'eps must be a number'),
    (lambda: BIM(model, alpha=0), ValueError, 'alpha must be in (0, inf]'),
    (lambda: PGD(model, norm='l1'), ValueError, "norm must be one of ['l2', 'linf']"),
    (lambda: pgd(model, x, y, restarts=0), ValueError, 'restarts must be in [1'),
    (lambda: fgsm(model, x, y, target='most_likely'), ValueError, 'target must be None, a tensor, a function or one'),
    (lambda: deepfool(model, x, y, overshoot=-1), ValueError, 'overshoot must be in [0, 1]'),
    (lambda: DeepFool(model)(x, y, target=y), ValueError, 'DeepFool is untargeted'),
    (lambda: cw_l2(model, x, y, steps=0), ValueError, 'steps must be in [1'),
    (lambda: cw_l2(model, x, y, abort_early='yes'), TypeError, 'abort_early must be True or False'),
    (lambda: pgd(model, x, y, seed=-1), ValueError, 'seed must be in [0'),
    (lambda: pgd(model, x, y, return_info=1), TypeError, 'return_info must be True or False'),
    (lambda: attack_info(model, x, x[:1], y), ValueError, "adv must have the images' shape"),
    (lambda: replay_passes(model, x, y, -1), ValueError, 'grad_images must be in [0'),
    (lambda: time_best(None), TypeError, 'fn must be callable'),
    (lambda: c_uap(model, None, eps=0.1, norm='l3'), ValueError, "norm must be one of ['l2', 'linf']"),
    (lambda: c_uap(model, None, eps=-1), ValueError, 'eps must be in [0'),
    (lambda: c_uap(model, None, eps=0.1, epochs=0), ValueError, 'epochs must be in [1'),
    (lambda: f_uap(model, None, eps=0.1, alpha=0), ValueError, 'alpha must be in (0'),
    (lambda: cd_uap(model, None, eps=0.1, targeted_classes=[0], keep_weight=-1), ValueError, 'keep_weight must be in'),
    (lambda: cd_uap(model, None, eps=0.1, targeted_classes=[0], alpha=0), ValueError, 'alpha must be in (0'),
    (lambda: reverse_cost(model, x, y, steps=0), ValueError, 'steps must be in [1'),
    (lambda: boundary_distance(model, x, x, alpha=0), ValueError, 'alpha must be in (0'),
    (lambda: boundary_distance(model, x, x, eps=2), ValueError, 'eps must be in (0, 1]'),
    (lambda: MadryHook(steps=0), ValueError, 'steps must be in [1'),
    (lambda: SATHook(alpha=-1), ValueError, 'alpha must be in (0'),
    (lambda: UATHook(beta=0), ValueError, 'beta must be in (0'),
    (lambda: CoAMHook(subset_size=0), ValueError, 'subset_size must be in [1'),
    (lambda: CoAMHook(seed=-1), ValueError, 'seed must be in [0'),
    (lambda: fit(model, [1], TrainConfig('simple_cnn'), hook=lambda m, a, b: (a, b)), TypeError,
     'hook must be an advstudy.train.Hook'),
    (lambda: PGD(model, step=0.1), TypeError, "PGD has no setting(s) ['step']"),
    (lambda: DeepFool(model, eps=0.1), TypeError, "DeepFool has no setting(s) ['eps']"),
    (lambda: cached({'a': 1}, None), TypeError, 'compute must be callable'),
    (lambda: study_budget('face_recognition'), ValueError, 'study must be one of'),
    (lambda: setup_study('coam', 'fast'), ValueError, 'profile must be one of'),
    (lambda: f_uap(model, None, eps=2), ValueError, 'eps must be in [0, 1]'),
    (lambda: f_uap(model, None, eps=0.1, beta=0), ValueError, 'beta must be in (0'),
    (lambda: cd_uap(model, None, eps=0.1, targeted_classes=[]), ValueError, 'targeted_classes must name at least one'),
    (lambda: apply_perturbation(x, y, torch.zeros(5)), ValueError, 'delta must have shape'),
    (lambda: save_perturbation([0.1], '/tmp/x.pt'), TypeError, 'delta must be a torch.Tensor'),
    (lambda: load_perturbation('/nonexistent.pt'), FileNotFoundError, 'path must be an existing perturbation file'),
    (lambda: CW(model, alpha=0), ValueError, 'alpha must be in (0'),
    (lambda: BIM(model, steps=0), ValueError, 'steps must be in [1, inf]'),
    (lambda: BIM(model, steps=2.5), TypeError, 'steps must be an int'),
    (lambda: FGSM(None), TypeError, 'model must be a torch.nn.Module'),
    (lambda: fgsm(model, x.numpy(), y), TypeError, 'images must be a torch.Tensor'),
    (lambda: fgsm(model, x[0], y), ValueError, 'images must be 4-D'),
    (lambda: fgsm(model, x * 255, y), ValueError, 'images must be in [0, 1]'),
    (lambda: fgsm(model, x.clone().fill_(float('nan')), y), ValueError, 'images must be finite'),
    (lambda: fgsm(model, x, torch.tensor([0, 3])), ValueError, 'labels must be in [0, 2]'),
    (lambda: fgsm(model, x, torch.tensor([0])), ValueError, 'labels must be 1-D of length 2'),
    (lambda: fgsm(model, x, torch.tensor([0., 1.])), TypeError, 'labels must be an integer tensor'),
    (lambda: bim(model, x, y, target=torch.tensor([5, 0])), ValueError, 'target must be in [0, 2]'),
    (lambda: kurakin_steps(2), ValueError, 'eps must be in [0, 1]'),
    (lambda: get_profile('huge'), ValueError, "profile must be one of ['paper', 'quick', 'smoke']"),
    (lambda: get_device('tpu:0'), ValueError, 'device must be'),
    (lambda: seed_everything(-3), ValueError, 'seed must be in [0'),
    (lambda: config_key({'x': object()}), TypeError, 'JSON-like'),
    (lambda: get_dataset('imagenet21k'), ValueError, "dataset must be one of ['cifar10', 'fashion_mnist']"),
    (lambda: balanced_indices(torch.arange(10) % 2, 11), ValueError, 'n must be in [1, 10]'),
    (lambda: train_val_split(torch.arange(10) % 2, 1.0), ValueError, 'val_fraction must be in (0, 1)'),
    (lambda: list(iterate_batches(None, 0)), ValueError, 'batch_size must be in [1'),
    (lambda: ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2), None), TypeError, 'images must be a uint8 tensor'),
    (lambda: create_model('vgg99'), ValueError, 'name must be one of'),
    (lambda: create_model('simple_cnn', in_channels=0), ValueError, 'in_channels must be in [1'),
    (lambda: create_model('simple_cnn', in_channels=1, mean=(0.1, 0.2)), ValueError,
     'mean and std must have in_channels=1 entries'),
    (lambda: load_weights(model, '/nonexistent/w.pt'), FileNotFoundError, 'path must be an existing weights file'),
    (lambda: TrainConfig('simple_cnn', epochs=0), ValueError, 'epochs must be in [1'),
    (lambda: TrainConfig('simple_cnn', schedule='exp'), ValueError, 'schedule must be one of'),
    (lambda: TrainConfig('simple_cnn', milestones=(1.5,)), ValueError, 'milestones must be fractions in (0, 1)'),
    (lambda: per_class_accuracy(torch.tensor([0]), torch.tensor([0, 1]), 2), ValueError, 'same shape'),
    (lambda: eps_sweep(model, None, None, []), ValueError, 'eps_values must hold at least one'),
    (lambda: reproduce(profile='fast'), ValueError, 'profile must be one of'),
    (lambda: weight_penalty(model, l1=-0.01), ValueError, 'l1 must be in [0, inf]'),
    (lambda: Regularized(l2=-1), ValueError, 'l2 must be in [0, inf]'),
    (lambda: Regularized(activity=-1e-5, layer='1'), ValueError, 'activity must be in [0, inf]'),
    (lambda: Regularized(activity=1e-5), ValueError, 'layer must name the module'),
    (lambda: layer_of(model, 'features.9'), ValueError, 'layer must name a submodule'),
    (lambda: activity_ratio(model, x, 'nope'), ValueError, 'layer must name a submodule'),
    (lambda: weight_density(model, threshold=-1), ValueError, 'threshold must be in [0, inf]'),
    (lambda: occlusion(model, x, window=3), ValueError, 'window must be in [1, 2]'),
    (lambda: occlusion(model, x, window=1, stride=0), ValueError, 'stride must be in [1, 2]'),
    (lambda: occlusion(model, x, window=1, baseline=-0.5), ValueError, 'baseline must be in [0, 1]'),
    (lambda: occlusion(model, x, window=1, target=3), ValueError, 'target must be in [0, 2]'),
    (lambda: gradcam(model, x), ValueError, 'layer must be a module'),
    (lambda: ssd(x, x[:1]), ValueError, 'a and b must be'),
    (lambda: blur(x, sigma=0), ValueError, 'sigma must be in (0'),
    (lambda: craft(None, None), TypeError, 'attack must be a callable'),
    (lambda: accuracy(model, x, y[:1]), ValueError, 'labels must be a (N,) tensor'),
    (lambda: append_images(ImageSet(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2), None), x * 2, y),
     ValueError, 'images must be in [0, 1]'),
    (lambda: mean_std(None, 'a', 'b'), TypeError, 'df must be a pandas DataFrame'),
    (lambda: convert_dual_bn(model), ValueError, 'model must hold a BatchNorm2d to convert'),
    (lambda: aux_bn(model).__enter__(), ValueError, 'model must hold DualBatchNorm2d layers'),
    (lambda: AdvPropHook(alpha=0), ValueError, 'alpha must be in (0, 1]'),
    (lambda: fgsm_objective_hook(weight=-0.1), ValueError, 'weight must be in [0, 1]'),
    (lambda: corrupt(x, 'contrast', 6), ValueError, 'severity must be in [1, 5]'),
    (lambda: corrupt(x, 'fog', 1), ValueError, 'corruption must be one of'),
    (lambda: corrupt(x * 3, 'contrast', 1), ValueError, 'images must be in [0, 1]'),
    (lambda: mce({'a': [0.1] * 5}, {'b': [0.1] * 5}), ValueError, 'errors and baseline must be dicts over the same'),
    (lambda: create_model('resnet18', width=5), ValueError, 'width must be in (0, 4]'),
    (lambda: TrainConfig('resnet18', width=0), ValueError, 'width must be in (0, 4]'),
    (lambda: reproduce(only=['nonexistent']), ValueError, 'study must be one of'),
    (lambda: reproduce(dataset='mnist'), ValueError, 'dataset must be one of'),
    (lambda: compare([], [1.0]), ValueError, 'a must hold at least one value'),
    (lambda: compare([1.0], 'fast'), TypeError, 'b must be a number or a sequence of numbers'),
    (lambda: compare(1.0, 2.0, names='ab'), TypeError, 'names must be a pair of strings'),
    (lambda: ordering({'a': 1.0}, ['a']), ValueError, 'order must be a list of at least 2 names'),
    (lambda: compare([1.0, 2.0], [1.0], paired=True), ValueError, 'paired=True needs a and b of equal length'),
    (lambda: compare([1.0, 2.0], [1.0, 3.0], paired='yes'), TypeError, 'paired must be True or False'),
    (lambda: compare([1.0, 2.0], [1.0, 3.0], unit='models'), ValueError, 'unit must be one of'),
    (lambda: compare([1.0, 2.0], [1.0, 3.0], n_images=-1), ValueError, 'n_images must be'),
    (lambda: no_worse([1.0, 2.0], [1.0, 3.0], margin=-0.5), ValueError, 'margin must be'),
    (lambda: equivalent([1.0, 2.0], [1.0, 3.0], margin=0.0), ValueError, 'margin must be > 0'),
    (lambda: compare_images([True, False], [True]), ValueError, 'a and b must cover the same images'),
    (lambda: compare_images(0.5, [True]), TypeError, 'a must be per-image values'),
    (lambda: compare_images(['x', 'y'], ['x', 'y']), TypeError, 'a must hold numbers or right/wrong booleans'),
    (lambda: all_of([]), ValueError, 'parts must hold at least one part'),
    (lambda: all_of([('holds', 'text')]), TypeError, 'parts must be (verdict, Evidence) pairs'),
    (lambda: trend(__import__('pandas').DataFrame({'eps': [0, 1], 'acc': [1.0, 0.5]}), 'eps', 'acc', pair='seed'),
     ValueError, 'pair must be a column of df'),
    (lambda: plot_claims([1, 2]), ValueError, 'claims must be a DataFrame with columns'),
    (lambda: ordering({'a': 1.0, 'b': 2.0}, ['a', 'c']), ValueError, 'order must name keys of values'),
    (lambda: combine([True]), TypeError, "verdicts must be one of ['holds', 'does not hold', 'inconclusive']"),
    (lambda: combine(['not tested']), ValueError, "verdicts must be one of ['holds', 'does not hold', 'inconclusive']"),
    (lambda: threshold('99%', 0.99), TypeError, 'value must be a number'),
    (lambda: trend([1, 2], 'eps', 'acc'), TypeError, 'df must be a pandas DataFrame'),
    (lambda: f_uap(model, empty_ds, eps=0.1), ValueError, 'ds must hold at least one image'),
    (lambda: c_uap(model, empty_ds, eps=0.1), ValueError, 'ds must hold at least one image'),
    (lambda: cd_uap(model, empty_ds, eps=0.1, targeted_classes=[0]), ValueError, 'ds must hold at least one image'),
    (lambda: cd_uap(model, toy_ds, eps=0.1, targeted_classes=[3]), ValueError,
     "targeted_classes must be in [0, 2] (the model's 3 classes), got [3]"),
    (lambda: cd_uap(model, toy_ds, eps=0.1, targeted_classes=[1.5]), TypeError,
     'targeted_classes must be integer class indices, got [1.5]'),
    (lambda: apply_perturbation(x, y, torch.full((1, 2, 2), float('nan'))), ValueError, 'delta must be finite'),
    (lambda: apply_perturbation(x, y, torch.zeros(1, 2, 1)), ValueError,
     'delta must have shape (1, 2, 2) or (num_classes, *(1, 2, 2)), got (1, 2, 1)'),
    (lambda: apply_perturbation(x, y, torch.zeros(2, 1, 2, 2)), ValueError,
     'delta must hold a perturbation for every class of the labels: they go up to 2, delta holds 2'),
    (lambda: boundary_distance(model, x, random_directions(2, (1, 2, 2)), alpha=1e-9), ValueError,
     'alpha must be at least eps / MAX_BD_STEPS = 0.4941 / 10,000 = 4.94e-05'),
    (lambda: evaluate(two_class_model, toy_ds, device='cpu'), ValueError,
     'the model has 2 outputs but the labels of ds go up to 2'),
    (lambda: fgsm(rgb_model, x, y), ValueError, "images must have the model's 3 channels, got 1"),
    (lambda: evaluate(rgb_model, toy_ds, device='cpu'), ValueError, "images must have the model's 3 channels, got 1"),
]


@pytest.mark.parametrize('call,exc,msg', CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_rejected(call, exc, msg):
    with pytest.raises(exc) as e: call()
    assert msg in str(e.value)


def test_cli_rejects_bad_arguments(capsys):
    assert main(['reproduce', '--only', 'nonexistent']) == 2
    assert 'study must be one of' in capsys.readouterr().err
    with pytest.raises(SystemExit): main(['reproduce', '--profile', 'huge'])


def test_attacks_leave_the_model_as_found():
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Dropout(0.5)); m.train(); m[1].bias.requires_grad_(False)
    before = [p.clone() for p in m.parameters()]
    for atk in (FGSM(m, 0.1), BIM(m, 0.1, 0.01, 3)): atk(x, y)
    with pytest.raises(ValueError): BIM(m)(x * 3, y)            # also when the attack raises
    assert m.training and [p.requires_grad for p in m.parameters()] == [True, False]
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))
