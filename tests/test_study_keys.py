"""The study helpers build the very cache keys the study notebooks once built by hand, so that results and checkpoints
cached before the glue moved into the library still load: each key here is the notebook's old dict, written out."""
import dataclasses
from dataclasses import replace
from pathlib import Path
import pytest, torch
from advstudy.study import setup_study
from advstudy.core import config_key
from advstudy.train import data_fingerprint, checkpoint_path
from advstudy.data import ImageSet, DatasetInfo
from advstudy.corruptions import CORRUPTIONS
from advstudy.regularize import Regularized
import advstudy.studies.advprop as A
import advstudy.studies.coam as C
import advstudy.studies.nar as N
import advstudy.studies.regularization as R

INFO = DatasetInfo('fashion_mnist', tuple('abcdefghij'), (0.3,), (0.2,), in_channels=1, size=28)


def images(n: int, seed: int) -> ImageSet:
    pixels = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 255
    return ImageSet(pixels.to(torch.uint8), torch.arange(n) % 10, INFO)


TRAIN, TEST, OTHER = images(40, 1), images(20, 2), images(10, 3)


@pytest.fixture
def study(tmp_path, monkeypatch):
    "A smoke study whose `cached` records (what, key) instead of computing."
    monkeypatch.setenv('ADVSTUDY_CACHE', str(tmp_path))
    def make(name):
        st = setup_study(name, 'smoke', out_dir=tmp_path/name, device='cpu')
        st.keys = []
        st.cached = lambda what, config, compute: st.keys.append((what, config_key(config)))
        return st
    return make


def key(what: str, config: dict) -> tuple: return what, config_key(config)


def ckpt(setup: tuple) -> Path: return checkpoint_path(setup[0], TRAIN, setup[1])


def test_advprop_keys(study):
    st = study('advprop')
    bud, main = st.budget, max(st.budget.strengths)
    a = A.attacker(main, bud)
    pgd10 = dict(eps=a['eps'], alpha=a['eps'] / 4, steps=10)
    corrupted = (torch.zeros(3, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    for wc in (True, False):
        A.scores(st, None, Path('/x/ck.pt'), TEST, corrupted=corrupted, with_corruptions=wc)
        old = {'checkpoint': 'ck.pt', 'test': data_fingerprint(TEST), 'n_corrupted': 3,
               'n_attacked': min(bud.robust_images, len(TEST)), 'pgd': pgd10,
               'corruptions': list(CORRUPTIONS) if wc else [], 'seed': 0}
        assert st.keys[-1] == key('scores', old)
    for s in bud.seeds:
        for m in A.METHODS:
            old = (A.train_config(bud, m, seed=s), A.hook(m, bud, seed=s, strength=main))
            assert ckpt(A.grid_setup(bud, s, m)) == ckpt(old)
        for k in bud.strengths:
            if k == main: continue
            old = (A.train_config(bud, 'advprop', seed=s), A.hook('advprop', bud, seed=s, strength=k))
            assert ckpt(A.grid_setup(bud, s, f'advprop@{k}')) == ckpt(old)
        for m, k in (('vanilla', main), ('advprop', main), ('advprop', min(bud.strengths))):
            old = (A.train_config(bud, m, seed=s, width=bud.small_width), A.hook(m, bud, seed=s, strength=k))
            name = f"{m}{'' if k == main else f'@{k}'} small"
            assert ckpt(A.grid_setup(bud, s, name)) == ckpt(old)
    old = (A.train_config(bud, 'advprop'), A.hook('advprop', bud, target=None))   # the study's target is 'random'
    assert ckpt(A.grid_setup(bud, 0, A.ATTACKER_CHECK)) == ckpt(old) != ckpt(A.grid_setup(bud, 0, 'advprop'))


def test_regularization_keys(study):
    st = study('regularization')
    bud = st.budget
    settings = {k: getattr(bud, k) for k in ('eps', 'alpha', 'steps', 'deepfool_steps', 'deepfool_candidates')}
    assert R.attack_settings(bud) == settings
    for s in bud.seeds:
        for lam in bud.sparsity_lambdas:
            h = Regularized(activity=lam, layer='net.hidden') if lam else R.hook('Base', bud)
            old = (R.train_config('single_layer_cnn', bud, seed=s), h)
            assert ckpt(R.sparsity_setup(bud, seed=s, method=lam)) == ckpt(old)
        for arch in bud.models:
            for reg in R.REGULARIZERS:   # the literal arm: the paper's λ
                old = (R.train_config(arch, bud, seed=s), R.hook(reg, bud))
                method = (reg, 0.0 if reg == 'Base' else bud.factor)
                assert ckpt(R.grid_setup(bud, seed=s, model=arch, method=method)) == ckpt(old)
    path = ckpt((R.train_config('resnet18', bud), R.hook('L1', bud)))
    st.measure('sparsity', path, TEST, None)
    assert st.keys[-1] == key('sparsity', {'checkpoint': path.name, 'data': data_fingerprint(TEST)})
    attacks = {'DeepFool': 1, 'FGSM': 2, 'PGD': 3}
    for what, ds in (('train', OTHER), ('test', TEST)):
        st.craft(f'crafted {what}', attacks, path, ds, settings=settings, seed=1)
        for i, name in enumerate(attacks):
            old = {'checkpoint': path.name, 'attack': name, 'settings': settings, 'seed': 1,
                   'data': data_fingerprint(ds)}
            assert st.keys[i - 3] == key(f'crafted {what}', old)
    st.measure('ssd', path, None, None, images=data_fingerprint(TEST), n=5)
    assert st.keys[-1] == key('ssd', {'checkpoint': path.name, 'images': data_fingerprint(TEST), 'n': 5})


def test_nar_keys(study):
    st = study('nar')
    bud = st.budget
    for g in ('block', 'conv'):
        for variant in N.VARIANTS:
            for s in bud.search_seeds:
                N.search_cached(st, g, variant, s, train_ds=TRAIN, val_ds=TEST, report_ds=OTHER)
                search = dataclasses.asdict(N.search_config(bud, variant == 'NAR-PreTrain', s))
                old = {'granularity': g, 'search': search, 'width': bud.width, 'derive_samples': bud.derive_samples,
                       'train': data_fingerprint(TRAIN), 'val': data_fingerprint(TEST),
                       'report': data_fingerprint(OTHER)}
                assert st.keys[-1] == key('search', old)


def test_coam_keys(study, tmp_path):
    st = study('coam')
    bud, eps = st.budget, C.study_eps(st.dataset, None)
    init = tmp_path/'clean.pt'
    init.write_bytes(b'weights')
    clean = {s: str(init) for s in bud.seeds}
    def old(mth, s, budget=bud, epochs=None, refreshes=1):   # the notebook's `train_method`, less the training
        start = clean[s] if mth != 'clean' and budget.start == 'clean' else None
        cfg = C.train_config(budget, st.profile.batch_size, st.dataset, mth, seed=s, init=start)
        cfg = replace(cfg, epochs=epochs) if epochs else cfg
        return cfg, C.make_hook(mth, eps, budget, seed=s, refreshes=refreshes)
    for s in bud.seeds:
        for mth in C.METHODS:
            assert ckpt(C.grid_setup(st, bud, eps, seed=s, method=mth, clean=clean)) == ckpt(old(mth, s))
    for a in bud.uat_alpha_sweep:
        b = replace(bud, uat_alpha=a)
        assert ckpt(C.grid_setup(st, b, eps, seed=0, method='uat', clean=clean)) == ckpt(old('uat', 0, b))
    for mth, r in (('sat', 1), ('coam', 1), ('coam', 4)):
        new = C.grid_setup(st, bud, eps, seed=0, method=mth, clean=clean, epochs=5, refreshes=r)
        assert ckpt(new) == ckpt(old(mth, 0, epochs=5, refreshes=r))
    budgets = {k: getattr(bud, k) for k in ('cuap_images', 'cuap_epochs', 'fuap_images', 'fuap_epochs', 'cd_epochs')}
    st.measure('uaps', 'ck.pt', [OTHER, TEST], None, eps=eps, budgets=budgets)
    old_uaps = {'checkpoint': 'ck.pt', 'eps': eps, 'budgets': budgets,
                'data': [data_fingerprint(OTHER), data_fingerprint(TEST)]}
    assert st.keys[-1] == key('uaps', old_uaps)
