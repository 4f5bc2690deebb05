"`advstudy reproduce --profile paper --dry-run` on generated CIFAR-10 batches and a generated ImageNet-style folder."
import json
import numpy as np
import pytest
from test_reproduce_smoke import run_cli, fake_imagenet
from advstudy.data import write_cifar_batches
from advstudy.study import study_names

PAPER_MODELS = {   # study → models its paper profile builds, and the fewest parameters each has at its paper size
    'coam': {'wrn34_10': 46_000_000, 'alexnet': 57_000_000},
    'advprop': {'resnet50': 23_000_000},
    'regularization': {'resnet50': 23_000_000, 'mobilenet_v1': 3_000_000, 'vgg16': 14_000_000},
    'fgsm_bim': {'simple_cnn': 200_000, 'densenet121_keras': 6_900_000},
    'benchmarks': {'simple_cnn': 200_000},
}


def fake_cifar(root, seed=0):
    "CIFAR-10 python batches of random images at the real sizes (50,000 training and 10,000 test images)."
    rng = np.random.default_rng(seed)
    for train, n in ((True, 50_000), (False, 10_000)):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        write_cifar_batches(root/'cifar-10-batches-py', x, np.arange(n) % 10, train=train)
    return root


@pytest.fixture(scope='module')
def dry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dry')
    data = fake_cifar(tmp/'data')
    inet, weights = fake_imagenet(tmp/'imagenet')
    env = {'ADVSTUDY_DATA': str(data), 'ADVSTUDY_CACHE': str(tmp/'cache')}
    run = run_cli(['reproduce', '--profile', 'paper', '--dry-run', '--dry-rows', '2', '--reports', str(tmp/'r'),
                   '--param', f'imagenet_dir={inet}', '--param', f'alexnet_weights={weights}'], env=env, timeout=3600)
    return tmp, run


def test_every_study_starts_and_is_estimated(dry):
    tmp, run = dry
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    est = json.loads((tmp/'r'/'dry-run'/'estimate.json').read_text())
    assert est['profile'] == 'paper'
    rows = {r['study']: r for r in est['studies']}
    assert set(rows) == set(study_names())
    for name, r in rows.items():
        assert r['ok'], r
        assert r['rows'] == 2 and r['device'] == 'cpu'
        assert r['estimate_s'] > r['dry_run_s'] > 0, r        # the loops it cut stand for more than it ran
    assert est['estimate_s'] == pytest.approx(sum(r['estimate_s'] for r in rows.values()), abs=1)
    assert '| study | estimated cold |' in (tmp/'r'/'dry-run'/'estimate.md').read_text()
    assert '[dry run] all: estimated cold' in run.stdout


def test_models_are_built_at_their_paper_size(dry):
    tmp, _ = dry
    rows = {r['study']: r for r in json.loads((tmp/'r'/'dry-run'/'estimate.json').read_text())['studies']}
    for study, models in PAPER_MODELS.items():
        for name, fewest in models.items():
            assert rows[study]['models'].get(name, 0) >= fewest, (study, name, rows[study]['models'])
    nar = rows['nar']['models']   # the children of the width-1 space: ResNet-18's 64-128-256-512 channels
    assert max(nar.values()) >= 11_000_000, nar


def test_each_study_trains_and_counts_its_stages(dry):
    tmp, _ = dry
    for name in study_names():
        m = json.loads((tmp/'r'/'dry-run'/name/'metrics.json').read_text())
        assert m['config']['profile'] == 'paper' and m['run']['cold'] is False and m['last_cold_wall_time_s'] is None
        stages = m['dry_run']['stages']
        assert any(s['what'] == 'batches' and s['estimate_s'] > s['measured_s'] for s in stages), (name, stages)
        assert any(s['what'] == 'epochs' for s in stages), (name, stages)   # every study trains a model


def test_nothing_is_cached_and_no_report_is_touched(dry):
    tmp, _ = dry
    cached = [p for p in (tmp/'cache').rglob('*') if p.is_file()] if (tmp/'cache').exists() else []
    assert cached == [], cached[:5]                            # a dry run's models and results stand for nothing
    assert sorted(p.name for p in (tmp/'r').iterdir()) == ['dry-run']   # no study folder, no index over a report


def test_dry_rows_needs_dry_run(tmp_path):
    run = run_cli(['reproduce', '--profile', 'paper', '--dry-rows', '4', '--reports', str(tmp_path)])
    assert run.returncode == 2 and 'dry_rows must be None unless dry_run' in run.stderr
