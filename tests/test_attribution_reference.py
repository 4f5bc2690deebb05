"""Differential test of `advstudy.attribution.gradcam` against pytorch-grad-cam 1.5.7 (`GradCAM`), a test-only
dependency: same model, layer and target. pytorch-grad-cam normalizes each map to [0, 1] and then resizes it
bilinearly (OpenCV, half-pixel centres); we resize (Captum's `interpolate`, bilinear) and then normalize. The two
orders agree exactly where the upsampling factor is odd (the source's extremes land on output pixels), and to a few
hundredths where it is even."""
import pytest, torch
from advstudy.core import seed_everything
from advstudy.data import get_dataset, balanced_indices
from advstudy.train import TrainConfig, train_cached
from advstudy.attribution import gradcam

pgc = pytest.importorskip('pytorch_grad_cam')
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


@pytest.fixture(scope='module')
def data():
    train, test = get_dataset('fashion_mnist', True), get_dataset('fashion_mnist', False)
    x, y = test.batch(balanced_indices(test.labels, 40, 0))
    return train.subset(balanced_indices(train.labels, 1000, 0)), x, y


def trained(name, data, cache):
    seed_everything(0)
    cfg = TrainConfig(name, epochs=1, batch_size=50, optimizer='adam', lr=1e-3, weight_decay=0, schedule='constant',
                      width=0.25)
    model, _, _ = train_cached(cfg, data[0], cache=cache, progress=False)
    return model.eval()


def theirs(model, x, target):
    with pgc.GradCAM(model=model, target_layers=[model.gradcam_layer]) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target]))


@pytest.mark.parametrize('name, atol', [('resnet18', 1e-4),        # 4×4 maps, ×7: exact up to float error
                                         ('vgg16_bn', 0.05)])      # 2×2 maps, ×14: the orders differ slightly
def test_gradcam_matches_pytorch_grad_cam(name, atol, data, tmp_path_factory):
    model = trained(name, data, tmp_path_factory.mktemp('cache'))
    x, y = data[1], data[2]
    ours = gradcam(model, x, target=y)
    ref = theirs(model, x, y)
    assert ours.shape == ref.shape == x.shape[:1] + x.shape[2:]
    torch.testing.assert_close(ours, ref.float(), atol=atol, rtol=0)



def test_default_target_is_the_prediction(data, tmp_path_factory):
    model = trained('resnet18', data, tmp_path_factory.mktemp('cache'))
    x = data[1][:8]
    with torch.no_grad(): pred = model(x).argmax(1)
    torch.testing.assert_close(gradcam(model, x), theirs(model, x, pred).float(), atol=1e-4, rtol=0)
