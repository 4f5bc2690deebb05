"End to end: `advstudy reproduce --profile smoke` into a temporary reports folder, twice."
import json, os, subprocess
import pandas as pd
import pytest
from conftest import ROOT, BIN
from advstudy.report import VERDICTS


def run_cli(args, env=None, timeout=2400):
    return subprocess.run([str(BIN/'advstudy'), *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def fake_imagenet(root, classes=('a', 'b', 'c'), per_class={'train': 4, 'val': 2}, side=72):
    ("An ImageNet-style folder (train/ and val/, one sub-folder per class) of random PNGs, "
     "and random AlexNet weights for it.")
    import numpy as np, torch, torchvision
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for c in classes:
            (root/split/c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root/split/c/f'{i}.png')
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(num_classes=len(classes)).state_dict(), root/'alexnet.pth')
    return root, root/'alexnet.pth'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('smoke')
    env = {'ADVSTUDY_CACHE': str(tmp/'cache')}
    inet, weights = fake_imagenet(tmp/'imagenet')   # coam's Table 3 runs on it
    first = run_cli(['reproduce', '--profile', 'smoke', '--reports', str(tmp/'r1'), '--param', f'imagenet_dir={inet}',
                     '--param', f'alexnet_weights={weights}'], env=env)   # every study
    second = run_cli(['reproduce', '--profile', 'smoke', '--only', 'fgsm_bim', '--reports', str(tmp/'r2')], env=env)
    return tmp, first, second


def test_runs_and_exits_zero(smoke):
    _, first, second = smoke
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr


def test_writes_every_artifact(smoke):
    tmp = smoke[0]
    rep = tmp/'r1'/'fgsm_bim'
    for name in ('results', 'per_class', 'eps_sweep', 'bim_steps_sweep', 'claims'):
        assert (rep/f'{name}.csv').exists() and (rep/f'{name}.md').exists(), name
    m = json.loads((rep/'metrics.json').read_text())
    for name in ('training_curves', 'accuracy_vs_eps', 'accuracy_vs_bim_steps', 'examples_simple_cnn_fgsm',
                 'examples_simple_cnn_bim'):
        assert name in m['figures'] and (rep/f'{name}.png').exists() and (rep/f'{name}.svg').exists(), name
    assert (rep/'fgsm_bim.ipynb').exists()
    assert {'config', 'versions', 'wall_time_s', 'claims'} <= set(m)
    assert m['config']['profile'] == 'smoke' and m['versions']['torch']
    index = (tmp/'r1'/'index.md').read_text()
    assert 'fgsm_bim' in index and '| claim | paper | ours | verdict | evidence |' in index
    assert (tmp/'r1'/'index.html').exists()
    assert not [p for p in (tmp/'r1').iterdir() if p.name.startswith('.')], 'temporary folders left behind'


def test_benchmarks_report(smoke):
    rep = smoke[0]/'r1'/'benchmarks'
    t = pd.read_csv(rep/'attack_speed.csv')
    assert {'FGSM', 'PGD-10', 'DeepFool', 'C&W L2'} <= set(t['attack']) and (t['img_per_s'] > 0).all()
    ours = t[t.implementation == 'advstudy']
    assert (ours['floor_s'] > 0).all() and (ours['time_over_floor'] > 0).all()
    assert (rep/'attack_speed.png').exists() and (rep/'attack_speed.svg').exists() and (rep/'claims.md').exists()


def test_coam_report(smoke):
    rep = smoke[0]/'r1'/'coam'
    for name in ('table1', 'table1_per_seed', 'table2', 'table2_per_seed', 'table4', 'table4_per_seed',
                 'accuracy_vs_eps', 'claims', 'uat_step_sweep', 'convergence'):
        assert (rep/f'{name}.csv').exists() and (rep/f'{name}.md').exists(), name
    for name in ('coam_masks', 'uaps', 'accuracy_vs_eps', 'training_curves', 'convergence'):
        assert (rep/f'{name}.png').exists() and (rep/f'{name}.svg').exists(), name
    t2 = pd.read_csv(rep/'table2_per_seed.csv')
    assert list(t2['model']) == ['Clean', 'Madry', 'SAT', 'UAT', 'Ours (CoAM)']
    cols = ['Clean', 'C-UAP', 'F-UAP', 'CD-UAP targeted (0–4)', 'CD-UAP kept (5–9)']   # CD-UAP on each half
    assert t2[cols].apply(lambda c: c.between(0, 1)).all().all()
    for name in ('table1_per_seed', 'table4_per_seed'):   # He et al.'s: unreached counted as 255
        t = pd.read_csv(rep/f'{name}.csv')
        assert {'seed', 'BD (dist-16)/127.5', 'BD mean', 'BD median', 'unreached share'} <= set(t.columns), name
        assert (t['BD mean'].dropna() <= 255).all() and (t['unreached share'].dropna().between(0, 1)).all(), name
    t1 = pd.read_csv(rep/'table1.csv')   # mean ± std over the seeds, beside the paper's columns
    assert {'RC', 'BD (dist-16)/127.5', 'paper RC', 'paper BD'} <= set(t1.columns)
    claims = pd.read_csv(rep/'claims.csv')
    assert len(claims) == 10 and set(claims['verdict']) <= set(VERDICTS)


def test_regularization_report(smoke):
    rep = smoke[0]/'r1'/'regularization'
    for name in ('fig1_sparsity', 'lambda_sweep', 'table1', 'table1_per_seed', 'table1_before_retraining',
                 'literal_collapse', 'gradcam_layers', 'table2', 'table2_constant_maps', 'table2_per_seed', 'claims'):
        assert (rep/f'{name}.csv').exists() and (rep/f'{name}.md').exists(), name
    for name in ('fig1_sparsity', 'fig2_grid', 'fig3_vgg_training', 'fig4_sliding_patch', 'fig5_gradcam'):
        assert (rep/f'{name}.png').exists() and (rep/f'{name}.svg').exists(), name
    picked = json.loads((rep/'metrics.json').read_text())['metrics']['picked_lambda']
    sweep = pd.read_csv(rep/'lambda_sweep.csv')            # Base and 3 regularizers × the smoke profile's 2 λ
    assert len(sweep) == 7 and sweep['picked'].sum() == 3
    assert {r: lam for r, lam, chosen in zip(sweep.regularizer, sweep['λ'], sweep['picked']) if chosen} == picked
    methods = 1 + 3 + sum(lam != 0.01 for lam in picked.values())   # Base, literal λ, the tuned λ not already there
    per_seed = pd.read_csv(rep/'table1_per_seed.csv')     # 2 seeds × 3 architectures × methods × 2 stages
    assert len(per_seed) == 2 * 3 * methods * 2 and set(per_seed['stage']) == {'trained', 'retrained'}
    cols = ['clean', 'DeepFool', 'FGSM', 'PGD']
    assert per_seed[cols].apply(lambda c: c.between(0, 100)).all().all()
    retrained = per_seed[per_seed.stage == 'retrained']
    assert retrained[['white-box FGSM', 'white-box PGD']].apply(lambda c: c.between(0, 100)).all().all()
    assert (retrained['DeepFool L2'] >= 0).all()
    t1 = pd.read_csv(rep/'table1.csv')                     # 2 arms × 3 architectures × 4 regularizers
    assert len(t1) == 24 and set(t1['arm']) == {'literal', 'tuned'}
    assert list(t1['paper PGD (transfer)'][:4]) == [18.0, 28.4, 13.2, 38.2]
    t2 = pd.read_csv(rep/'table2.csv')
    assert set(t2['method']) == {'sliding patch', 'Grad-CAM'} and 'all architectures' in set(t2['model'])
    ssd = pd.read_csv(rep/'table2_per_seed.csv')
    assert (ssd['ssd'] >= 0).all() and (ssd['ssd'] <= 28 * 28).all()   # maps in [0, 1]: at most one per pixel
    shares = pd.read_csv(rep/'table2_constant_maps.csv')['constant maps (%)']
    assert shares.between(0, 100).all()
    claims = pd.read_csv(rep/'claims.csv')
    assert len(claims) == 9 and set(claims['verdict']) <= set(VERDICTS)


def test_advprop_report(smoke):
    rep = smoke[0]/'r1'/'advprop'
    for name in ('table1', 'table1_per_seed', 'corruption_errors', 'attacker_strength', 'attacker_target',
                 'vanilla_convergence', 'claims'):
        assert (rep/f'{name}.csv').exists() and (rep/f'{name}.md').exists(), name
    for name in ('training_curves', 'accuracy_vs_severity', 'corruption_examples', 'bn_statistics'):
        assert (rep/f'{name}.png').exists() and (rep/f'{name}.svg').exists(), name
    per_seed = pd.read_csv(rep/'table1_per_seed.csv')
    assert (per_seed[per_seed.method == 'Vanilla']['mCE'] == 100).all()   # the baseline of the mCE
    assert per_seed[['clean', 'mean CE', 'FGSM', 'PGD-10']].apply(lambda c: c.between(0, 100)).all().all()
    assert len(per_seed) == 2 * 5                                            # 2 seeds × the 5 methods
    strength = pd.read_csv(rep/'attacker_strength.csv')                     # 2 widths × the weakest and strongest
    assert len(strength) == 4 and strength['width'].nunique() == 2
    assert len(pd.read_csv(rep/'attacker_target.csv')) == 2
    claims = pd.read_csv(rep/'claims.csv')
    assert len(claims) == 8 and set(claims['verdict']) <= set(VERDICTS)
    assert 'equivalent' in set(claims['form'])                              # the auxiliary BN's "no difference"


def test_nar_report(smoke):
    rep = smoke[0]/'r1'/'nar'
    for name in ('table4', 'table4_readings', 'table4_offset', 'searches_per_seed', 'pretrain', 'table5',
                 'table5_per_seed', 'baseline_convergence', 'random_archs', 'claims'):
        assert (rep/f'{name}.csv').exists() and (rep/f'{name}.md').exists(), name
    for name in ('operator_distribution', 'reward_baseline', 'accuracy_vs_macs', 'baseline_convergence'):
        assert (rep/f'{name}.png').exists() and (rep/f'{name}.svg').exists(), name
    t4 = pd.read_csv(rep/'table4.csv')
    assert list(t4['params (ours)']) == [11689512, 11625384, 9000552]   # the paper's vectors at 224×224
    searches = pd.read_csv(rep/'searches_per_seed.csv', dtype={'best': str})
    assert len(searches) == 8 and set(searches['variant']) == {'NAR', 'NAR-PreTrain'}   # 2 spaces × 2 × 2 seeds
    assert {len(b) for b in searches['best']} == {8, 16}
    for col in ('chosen at (%)', 'reported (%)', 'reported, running BN (%)'):
        assert searches[col].between(0, 100).all(), col
    assert searches['replaced share'].between(0, 1).all()
    t5 = pd.read_csv(rep/'table5_per_seed.csv')
    assert list(t5['model'].unique()) == ['ResNet-18', 'ResNet-18-8', 'ResNet-18-16']
    assert t5['acc'].between(0, 100).all() and len(t5) == 3 * 2                # 3 models × 2 search seeds, paired
    rand = pd.read_csv(rep/'random_archs.csv')
    assert set(rand['seed']) <= {0, 1} and len(rand) <= 2 * 2                   # spread over the search seeds
    claims = pd.read_csv(rep/'claims.csv')
    assert len(claims) == 7 and set(claims['verdict']) <= set(VERDICTS)
    assert claims['claim'].str.contains("Ours, not the paper's").sum() == 1
    assert {'equivalent', 'no worse'} <= set(claims['form'])                    # the cut's size; "comparable"
    m = json.loads((rep/'metrics.json').read_text())
    assert m['metrics']['imagenet'].startswith('ran on 12 training and 6 validation images')


def test_coam_table3_runs_on_an_imagenet_folder(smoke):
    rep = smoke[0]/'r1'/'coam'
    t3 = pd.read_csv(rep/'table3.csv')
    assert list(t3['model']) == ['Clean', 'UAT', 'Ours (CoAM)']
    for a in ('Clean', 'C-UAP', 'F-UAP'):   # 3 classes: top-5 is 100
        assert t3[f'{a} top-1'].between(0, 100).all() and (t3[f'{a} top-5'] >= t3[f'{a} top-1']).all()
        assert (t3[f'{a} top-5'] == 100).all()
    m = json.loads((rep/'metrics.json').read_text())
    assert 'ran on 12 training and 6 validation images' in m['metrics']['table3']


def test_numbers_are_sane(smoke):
    rep = smoke[0]/'r1'/'fgsm_bim'
    t = pd.read_csv(rep/'results.csv')
    assert list(t['Attack Type']) == ['FGSM Attack', 'BIM Attack'] * 2
    assert t['Normal Accuracy'].between(0, 100).all() and t['Accuracy on Attack Examples'].between(0, 100).all()
    assert (t['Accuracy on Attack Examples'] <= t['Normal Accuracy'] + 1e-9).all()   # an attack never helps here
    assert t['Normal Accuracy'].iloc[0] > 20   # the CNN beats chance (10%) even in smoke
    assert list(t['Paper Accuracy on Attack Examples']) == [19.18, 18.26, 1.79, 0.73]
    eps = pd.read_csv(rep/'eps_sweep.csv')
    assert eps['accuracy'].between(0, 1).all()
    claims = pd.read_csv(rep/'claims.csv')
    assert set(claims['verdict']) <= set(VERDICTS)
    assert claims['test'].str.contains('over images').all()   # under 3 seeds: each model decided by the same images
    assert claims['note'].iloc[:4].str.startswith('one trained model per seed [0, 1]').all()   # smoke: 2 seeds
    assert (pd.read_csv(rep/'results_per_seed.csv').seed.unique() == [0, 1]).all() and (t['Seeds'] == 2).all()
    assert list(claims['n_images']) == [200] * 5 + [50] * 2   # the smoke profile's test images; its sweep images
    assert claims[['effect', 'ci_low', 'ci_high', 'p']].notna().all().all()
    assert (rep/'claims.png').exists() and (rep/'claims.svg').exists()   # the forest plot


def test_second_run_loads_and_is_identical(smoke):
    tmp = smoke[0]
    m1, m2 = (json.loads((tmp/r/'fgsm_bim'/'metrics.json').read_text()) for r in ('r1', 'r2'))
    assert not any(m1['metrics']['loaded_from_cache'].values())
    assert all(m2['metrics']['loaded_from_cache'].values())
    assert m1['run']['cold'] and not m1['run']['loaded'] and m1['last_cold_wall_time_s'] == m1['wall_time_s']
    assert not m2['run']['cold'] and not m2['run']['computed'] and {'train', 'attacks'} <= set(m2['run']['phases'])
    for name in ('results', 'results_per_seed', 'eps_sweep', 'bim_steps_sweep', 'claims'):
        assert (tmp/'r1'/'fgsm_bim'/f'{name}.csv').read_text() == (tmp/'r2'/'fgsm_bim'/f'{name}.csv').read_text(), name


def test_regularization_runs_on_generated_cifar10(tmp_path):
    "The paper profile's dataset path (3-channel 32×32 CIFAR-10 batches) through the whole study, on files made here."
    import numpy as np
    from advstudy.data import write_cifar_batches
    rng = np.random.default_rng(0)
    for train, n in ((True, 600), (False, 100)):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        write_cifar_batches(tmp_path/'data'/'cifar-10-batches-py', x, np.arange(n) % 10, train=train)
    env = {'ADVSTUDY_DATA': str(tmp_path/'data'), 'ADVSTUDY_CACHE': str(tmp_path/'cache')}
    r = run_cli(['reproduce', '--profile', 'smoke', '--only', 'regularization', '--dataset', 'cifar10',
                 '--reports', str(tmp_path/'reports')], env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rep = tmp_path/'reports'/'regularization'
    t2 = pd.read_csv(rep/'table2_per_seed.csv')
    assert (t2['ssd'] <= 32 * 32).all() and len(pd.read_csv(rep/'claims.csv')) == 9
    assert json.loads((rep/'metrics.json').read_text())['config']['dataset'] == 'cifar10'
