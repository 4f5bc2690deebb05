"""Data-parallel training (issue 13, section 1): 2 gloo processes reproduce the one-process weights on 2,000
Fashion-MNIST images for clean, Madry and UAT training, whether a script runs under torchrun (every rank calls
`train_cached`, rank 0 alone writes) or `train_cached(..., nproc=2)` launches torchrun itself; a failure on a rank fails
the run with that rank's error, and nothing is cached."""
import json, os, subprocess, sys, textwrap
import pytest, torch
from advstudy.data import DatasetNotFoundError, balanced_subset, get_dataset
from advstudy.defenses import MadryHook, UATHook
from advstudy.train import TrainConfig, checkpoint_path, train_cached

# Batches of 63 (the last one 47): every rank's part is uneven. Plain SGD at a small rate: float error is not amplified
# (with momentum 0.9 at 0.05, a 1e-7 change of the initial weights grows to 1e-3 in this epoch, one process or two).
CFG = TrainConfig('simple_cnn', epochs=1, batch_size=63, optimizer='sgd', lr=0.01, momentum=0.0, weight_decay=5e-4)
HOOKS = {'clean': 'None', 'madry': 'MadryHook(alpha=4/255, steps=2)', 'uat': 'UATHook()'}   # as the script builds them
MAKE = {'clean': lambda: None, 'madry': lambda: MadryHook(alpha=4/255, steps=2), 'uat': lambda: UATHook()}
hook = lambda method: MAKE[method]()             # a fresh hook: hooks keep state (δ, counters)


@pytest.fixture(autouse=True)
def one_thread():
    "This process on one thread, as each rank: two processes of two threads each would crowd a 2-core machine."
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fmnist():
    try: train = get_dataset('fashion_mnist', download=False)
    except DatasetNotFoundError as e: pytest.skip(f"Fashion-MNIST is not installed: {e}")
    return balanced_subset(train, 2000, 0)


def torchrun(script: str, folder, nproc: int = 2) -> subprocess.CompletedProcess:
    "Run `script` (dedented) under `torchrun --standalone --nproc_per_node nproc`, one thread a process."
    path = folder/'script.py'
    path.write_text(textwrap.dedent(script))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}', str(path)]
    env = {k: v for k, v in os.environ.items() if k != 'ADVSTUDY_NPROC'}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**env, 'OMP_NUM_THREADS': '1'})


@pytest.fixture(scope='module')
def under_torchrun(tmp_path_factory):
    "A script run by torchrun on 2 processes: every rank calls train_cached for each method, twice."
    ds, cache = fmnist(), tmp_path_factory.mktemp('ddp')
    out = torchrun(f"""
        import json
        from advstudy.data import balanced_subset, get_dataset
        from advstudy.defenses import MadryHook, UATHook
        from advstudy.parallel import get_rank
        from advstudy.train import TrainConfig, train_cached
        ds = balanced_subset(get_dataset('fashion_mnist', download=False), 2000, 0)
        cfg = {CFG!r}
        seen = {{}}
        for method, hook in {{'clean': {HOOKS['clean']}, 'madry': {HOOKS['madry']}, 'uat': {HOOKS['uat']}}}.items():
            runs = [train_cached(cfg, ds, hook=hook, cache={str(cache)!r}, progress=False, device='cpu')
                    for _ in range(2)]
            seen[method] = {{'loaded': [r[2] for r in runs],
                            'weights': [sum(p.double().sum().item() for p in m.parameters()) for m, _, _ in runs]}}
        json.dump(seen, open({str(cache)!r} + f'/rank{{get_rank()}}.json', 'w'))
    """, cache)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return ds, cache, [json.loads((cache/f'rank{r}.json').read_text()) for r in range(2)]


def gap(a, b) -> float:
    "The largest absolute difference between the parameters of two models."
    return max((p.detach().cpu() - q.detach().cpu()).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize('method', list(HOOKS))
def test_two_processes_reproduce_one(under_torchrun, method):
    ds, cache, ranks = under_torchrun
    assert [r[method]['loaded'] for r in ranks] == [[False, True]] * 2     # trained once, then loaded on every rank
    w = ranks[0][method]['weights']
    assert ranks[1][method]['weights'] == w and w[0] == w[1]               # the same weights on every rank
    two, h2, loaded = train_cached(CFG, ds, hook=hook(method), cache=cache, progress=False, device='cpu', nproc=2)
    assert loaded                                                          # rank 0's checkpoint, under nproc=2's key
    assert h2[0]['nproc'] == 2 and abs(h2[0]['time_adv'] - sum(h2[0]['time_adv_ranks'])) < 1e-9
    one, h1, loaded = train_cached(CFG, ds, hook=hook(method), cache=cache, progress=False, device='cpu', nproc=1)
    print(f"{method}: max abs parameter gap {gap(one, two):.2e}")
    assert not loaded and gap(one, two) < 1e-4, gap(one, two)
    assert abs(h1[0]['loss'] - h2[0]['loss']) < 1e-5 and abs(h1[0]['train_acc'] - h2[0]['train_acc']) < 1e-3


def test_train_cached_launches_torchrun_itself(tmp_path):
    ds = fmnist().subset(range(0, 2000, 4))
    two, h2, loaded = train_cached(CFG, ds, hook=hook('uat'), cache=tmp_path, progress=False, device='cpu', nproc=2)
    one, h1, _ = train_cached(CFG, ds, hook=hook('uat'), cache=tmp_path, progress=False, device='cpu')
    assert not loaded and gap(one, two) < 1e-4, gap(one, two)
    paths = [checkpoint_path(CFG, ds, hook('uat'), tmp_path, nproc=n) for n in (1, 2)]
    assert sorted(p.name for p in (tmp_path/'models').iterdir()) == sorted(p.name for p in paths)


def test_a_failing_rank_fails_the_run_and_nothing_is_cached(tmp_path):
    wild = TrainConfig('simple_cnn', epochs=1, batch_size=64, optimizer='sgd', lr=1e30, momentum=0.0)
    small = fmnist().subset(range(256))
    with pytest.raises(FloatingPointError, match=r'rank \d: training diverged at epoch 1') as e:
        train_cached(wild, small, cache=tmp_path, progress=False, device='cpu', nproc=2)
    assert 'Traceback' in str(e.value.__cause__)                           # the rank's own traceback
    assert not checkpoint_path(wild, small, cache=tmp_path, nproc=2).exists()
