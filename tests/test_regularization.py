"Seed 002's building blocks checked by hand: Keras's kernel penalties, density measures, occlusion, SSD."
import pytest, torch, torch.nn as nn, torch.nn.functional as F
from advstudy.regularize import weight_penalty, penalized_weights, Regularized, activity_ratio, weight_density
from advstudy.attribution import occlusion, ssd, gradcam, normalize_maps
from advstudy.models import create_model


def tiny():
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize('l1, l2', [(0.01, 0.0), (0.0, 0.01), (0.01, 0.01), (0.003, 0.2)])
def test_penalty_is_keras_formula(l1, l2):
    # Keras: L1L2(l1, l2)(w) = l1·Σ|w| + l2·Σw², per kernel, summed over layers; biases and BN are not kernels
    m = tiny()
    kernels = [m[0].weight.detach().double(), m[4].weight.detach().double()]
    by_hand = sum(l1 * k.abs().sum() + l2 * k.pow(2).sum() for k in kernels)
    assert abs(weight_penalty(m, l1, l2).item() - by_hand.item()) < 1e-5


def test_biases_and_norm_layers_untouched():
    m = tiny()
    assert set(penalized_weights(m)) == {'0.weight', '4.weight'}
    weight_penalty(m, 0.01, 0.01).backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    assert grads['0.bias'] is None and grads['4.bias'] is None
    assert grads['1.weight'] is None and grads['1.bias'] is None


def test_regularized_loss_adds_the_penalty_to_the_batch_mean():
    m, x, y = tiny(), torch.rand(6, 1, 6, 6), torch.arange(6) % 5
    loss, _ = Regularized(l1=0.01).loss(m, x, y)
    m.train()
    assert torch.allclose(loss, F.cross_entropy(m(x), y) + weight_penalty(m, l1=0.01))


def test_density_on_known_activations():
    ident = nn.Sequential(nn.Flatten(), nn.ReLU())
    acts = torch.tensor([[1., 2., -1., -1.], [0., 0., 0., 5.], [3., 3., 3., 3.]])   # 2/4, 1/4, 4/4 active
    assert abs(activity_ratio(ident, acts, '1') - (0.5 + 0.25 + 1.0) / 3) < 1e-7
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad(): lin.weight.copy_(torch.tensor([[0.0, 0.5], [1e-5, -2.0]]))
    assert weight_density(lin) == 0.5


def test_occlusion_lights_up_exactly_the_region_the_model_reads():
    class Region(nn.Module):   # class 1's score is the mean of rows 4–7, columns 8–11
        def forward(self, x):
            s = x[:, :, 4:8, 8:12].mean((1, 2, 3))
            return torch.stack([-s, s], 1)
    x = torch.rand(3, 3, 16, 16) * 0.4 + 0.55   # brighter than the grey baseline everywhere
    maps = occlusion(Region(), x, target=1, window=2, stride=2)
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[4:8, 8:12] = True
    assert (maps[:, ~inside] == 0).all() and (maps[:, inside] > 0).all()


def test_ssd_of_identical_maps_is_zero():
    a = normalize_maps(torch.rand(5, 12, 12))
    assert (ssd(a, a) == 0).all() and (ssd(a, 1 - a) > 0).all()


def test_gradcam_maps_are_normalized_per_image():
    m = create_model('resnet18', 10, 1, 28, width=0.125).eval()
    maps = gradcam(m, torch.rand(4, 1, 28, 28))
    assert maps.shape == (4, 28, 28)
    assert all(float(g.max()) in (0.0, 1.0) and float(g.min()) == 0.0 for g in maps)
