"Dataset loading: CIFAR-10 from CIFAR-format files the test writes, Fashion-MNIST IDX files, the missing-data error."
import gzip, struct
import numpy as np, torch, pytest
from advstudy.data import (get_dataset, load_cifar10, load_fashion_mnist, write_cifar_batches, DatasetNotFoundError,
                           balanced_indices, iterate_batches, _read_idx)
from advstudy.models import model_for
from advstudy.train import TrainConfig, fit


def make_cifar(root, n_train=100, n_test=40, seed=0):
    rng = np.random.default_rng(seed)
    for train, n in ((True, n_train), (False, n_test)):
        y = np.arange(n) % 10
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        write_cifar_batches(root/'cifar-10-batches-py', x, y, train=train)
    return root


def test_cifar10_reads_generated_batches(tmp_path, monkeypatch):
    make_cifar(tmp_path)
    monkeypatch.setenv('ADVSTUDY_DATA', str(tmp_path))
    tr, te = get_dataset('cifar10', train=True, download=False), get_dataset('cifar10', train=False, download=False)
    assert tr.images.shape == (100, 3, 32, 32) and te.images.shape == (40, 3, 32, 32)
    assert tr.labels.bincount().tolist() == [10] * 10 and tr.info.num_classes == 10 and tr.info.classes[-1] == 'truck'
    x, y = next(iterate_batches(tr, 16))
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and x.shape == (16, 3, 32, 32)


def test_cifar10_batches_are_read_in_order(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (50, 3, 32, 32), dtype=np.uint8)
    y = np.arange(50) % 10
    write_cifar_batches(tmp_path, x, y, train=True)
    ds = load_cifar10(train=True, root=tmp_path)
    assert np.array_equal(ds.images.numpy(), x) and np.array_equal(ds.labels.numpy(), y)


def test_cifar10_trains_through_the_pipeline(tmp_path):
    make_cifar(tmp_path)
    ds = load_cifar10(True, root=tmp_path)
    m = model_for('simple_cnn', ds.info)
    h = fit(m, ds, TrainConfig('simple_cnn', epochs=1, batch_size=25, augment=True), progress=False)
    assert np.isfinite(h[0]['loss']) and m(ds.batch([0])[0]).shape == (1, 10)


def test_missing_cifar10_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv('ADVSTUDY_DATA', str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as e: get_dataset('cifar10', download=False)
    assert str(tmp_path) in str(e.value) and 'To get it' in str(e.value)


def write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    with gzip.open(path, 'wb') as f:
        f.write(struct.pack('>I', 0x0800 | arr.ndim) + b''.join(struct.pack('>I', s) for s in arr.shape)
                + arr.tobytes())


def test_fashion_mnist_idx_files(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (30, 28, 28))
    y = np.arange(30) % 10
    write_idx(tmp_path/'t10k-images-idx3-ubyte.gz', x)
    write_idx(tmp_path/'t10k-labels-idx1-ubyte.gz', y)
    ds = load_fashion_mnist(train=False, root=tmp_path)
    assert (ds.images.shape == (30, 1, 28, 28) and np.array_equal(ds.images[:, 0].numpy(), x)
            and ds.info.classes[0] == 'T-shirt/top')
    with pytest.raises(DatasetNotFoundError): load_fashion_mnist(train=True, root=tmp_path)


def test_balanced_subsets_are_deterministic():
    labels = torch.arange(1000) % 10
    assert torch.equal(balanced_indices(labels, 100, seed=3), balanced_indices(labels, 100, seed=3))
    assert not torch.equal(balanced_indices(labels, 100, seed=3), balanced_indices(labels, 100, seed=4))


@pytest.mark.parametrize('content, msg', [(b'not gzip', 'is not a gzip file'),
                                          (gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])), 'says 9'),
                                          (b'', None)])
def test_damaged_fashion_mnist_files_are_named(tmp_path, content, msg):
    path = tmp_path/('t10k-images-idx3-ubyte.gz' if content else 't10k-images-idx3-ubyte')
    path.write_bytes(content)
    with pytest.raises(ValueError) as e: _read_idx(path)
    assert str(path) in str(e.value) and 'get a good copy' in str(e.value)
    assert msg is None or msg in str(e.value)


def test_malicious_cifar_batch_is_refused(tmp_path):
    import os, pickle

    class Evil:
        def __reduce__(self): return (os.system, ('touch ' + str(tmp_path/'pwned'),))
    folder = tmp_path/'cifar-10-batches-py'
    folder.mkdir()
    with open(folder/'test_batch', 'wb') as f: pickle.dump({b'data': Evil(), b'labels': []}, f)
    with pytest.raises(ValueError, match='a CIFAR-10 batch holds only dicts'): load_cifar10(False, root=tmp_path)
    assert not (tmp_path/'pwned').exists()


def test_train_must_be_a_bool():
    with pytest.raises(TypeError, match='train must be True or False'): get_dataset('fashion_mnist', train='no')
