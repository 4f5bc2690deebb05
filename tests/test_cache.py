"The checkpoint cache: the same config loads instead of training; any change retrains."
from dataclasses import replace
import torch, pytest
import advstudy.train as T
from advstudy.data import ImageSet, DatasetInfo


def toy(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = (torch.rand(n, 1, 20, 20, generator=g) * 128 + y.view(-1, 1, 1, 1) * 100).to(torch.uint8)
    return ImageSet(x, y, DatasetInfo('toy', ('dark', 'bright'), (0.3,), (0.2,), in_channels=1, size=20))


def test_second_call_loads_not_trains(tmp_path, monkeypatch):
    cfg = T.TrainConfig('simple_cnn', epochs=1, batch_size=32, optimizer='adam', lr=1e-3, weight_decay=0)
    ds = toy()
    m1, h1, loaded1 = T.train_cached(cfg, ds, cache=tmp_path, progress=False)
    assert not loaded1 and T.checkpoint_path(cfg, ds, cache=tmp_path).exists()
    monkeypatch.setattr(T, 'fit', lambda *a, **k: pytest.fail('fit was called for a cached config'))
    m2, h2, loaded2 = T.train_cached(cfg, ds, cache=tmp_path, progress=False)
    assert loaded2 and h1 == h2
    x = ds.batch(range(8))[0]
    assert torch.equal(m1(x), m2(x))


def test_changed_config_or_data_retrains(tmp_path):
    cfg = T.TrainConfig('simple_cnn', epochs=1, batch_size=32, optimizer='adam', lr=1e-3, weight_decay=0)
    T.train_cached(cfg, toy(), cache=tmp_path, progress=False)
    assert not T.train_cached(replace(cfg, lr=2e-3), toy(), cache=tmp_path, progress=False)[2]
    assert not T.train_cached(cfg, toy(seed=1), cache=tmp_path, progress=False)[2]


def test_checkpoint_loads_weights_only(tmp_path):
    cfg = T.TrainConfig('simple_cnn', epochs=1, batch_size=64, optimizer='adam', lr=1e-3, weight_decay=0)
    T.train_cached(cfg, toy(), cache=tmp_path, progress=False)
    # weights_only: raises if it held arbitrary objects
    ck = torch.load(T.checkpoint_path(cfg, toy(), cache=tmp_path), weights_only=True)
    assert set(ck) == {'state_dict', 'history', 'config'}


def test_training_is_deterministic(tmp_path):
    cfg = T.TrainConfig('simple_cnn', epochs=1, batch_size=32, optimizer='sgd', lr=0.05)
    a = T.train_cached(cfg, toy(), cache=tmp_path/'a', progress=False)
    b = T.train_cached(cfg, toy(), cache=tmp_path/'b', progress=False)
    assert not a[2] and not b[2] and a[1][0]['loss'] == b[1][0]['loss']
    for (k, v), w in zip(a[0].state_dict().items(), b[0].state_dict().values()): assert torch.equal(v, w), k
