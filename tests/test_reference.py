"Differential tests against reference libraries (torchattacks 3.5.1, foolbox 3.3.4), on a small CNN on Fashion-MNIST."
import pytest, torch
from advstudy.core import seed_everything
from advstudy.data import get_dataset, balanced_indices
from advstudy.train import TrainConfig, train_cached
from advstudy.attacks import (fgsm, pgd, bim, deepfool, cw_l2, apgd, apgd_t, square, fab_t, project_hyperplane,
                              autoattack)

torchattacks = pytest.importorskip('torchattacks')
fb = pytest.importorskip('foolbox')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    seed_everything(0)
    train, test = get_dataset('fashion_mnist', True), get_dataset('fashion_mnist', False)
    train = train.subset(balanced_indices(train.labels, 6000, 0))
    cfg = TrainConfig('simple_cnn', epochs=2, batch_size=64, optimizer='adam', lr=1e-3, weight_decay=0,
                      schedule='constant')
    model, _, _ = train_cached(cfg, train, cache=tmp_path_factory.mktemp('cache'), progress=False)
    model.eval()
    x, y = test.batch(balanced_indices(test.labels, 200, 0))
    with torch.no_grad(): correct = model(x).argmax(1) == y
    assert correct.float().mean() > 0.75
    return model, x, y, correct


def test_fgsm_matches_torchattacks_elementwise(setup):
    model, x, y, _ = setup
    theirs = torchattacks.FGSM(model, eps=8/255)(x, y)
    torch.testing.assert_close(fgsm(model, x, y, eps=8/255), theirs, atol=1e-6, rtol=0)


def test_pgd_without_random_start_matches_torchattacks_elementwise(setup):
    model, x, y, _ = setup
    theirs = torchattacks.PGD(model, eps=8/255, alpha=2/255, steps=10, random_start=False)(x, y)
    ours = pgd(model, x, y, eps=8/255, alpha=2/255, steps=10, random_start=False)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_l2_pgd_without_random_start_matches_torchattacks_elementwise(setup):
    model, x, y, _ = setup
    theirs = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=10, random_start=False)(x, y)
    ours = pgd(model, x, y, eps=1.0, alpha=0.2, steps=10, norm='l2', random_start=False)
    # The same algorithm, but torchattacks normalizes the gradient of the *mean* loss (÷N) by ‖g‖ + 1e-10: for confident
    # images the gradient is tiny and rounding tilts its direction slightly, which ten steps carry on. So: almost every
    # element equal, and the rest within a small fraction of a pixel level.
    close = (ours - theirs).abs() <= 1e-5
    worst = (ours - theirs).abs().max()
    assert close.float().mean() >= 0.99 and worst <= 0.02, ((~close).float().mean(), worst)


def test_bim_matches_torchattacks_elementwise(setup):
    model, x, y, _ = setup
    theirs = torchattacks.BIM(model, eps=8/255, alpha=1/255, steps=10)(x, y)
    torch.testing.assert_close(bim(model, x, y, eps=8/255, alpha=1/255, steps=10), theirs, atol=1e-6, rtol=0)


def test_least_likely_targeted_pgd_matches_torchattacks(setup):
    model, x, y, _ = setup
    atk = torchattacks.PGD(model, eps=8/255, alpha=2/255, steps=10, random_start=False)
    atk.set_mode_targeted_least_likely()
    ours = pgd(model, x, y, eps=8/255, alpha=2/255, steps=10, random_start=False, target='least_likely')
    torch.testing.assert_close(ours, atk(x, y), atol=1e-6, rtol=0)


def test_restarts_keep_every_fooling_adversary(setup):
    model, x, y, _ = setup
    _, one = pgd(model, x, y, eps=4/255, alpha=1/255, steps=5, seed=3, return_info=True)
    _, five = pgd(model, x, y, eps=4/255, alpha=1/255, steps=5, restarts=5, seed=3, return_info=True)
    assert (five['success'] >= one['success']).all() and five['success'].sum() >= one['success'].sum()


def test_random_start_pgd_accuracy_within_one_point(setup):
    model, x, y, _ = setup
    x, y = x.repeat(5, 1, 1, 1), y.repeat(5)    # 1,000 attacked images
    torch.manual_seed(0); theirs = torchattacks.PGD(model, eps=8/255, alpha=2/255, steps=10, random_start=True)(x, y)
    ours = pgd(model, x, y, eps=8/255, alpha=2/255, steps=10, random_start=True, seed=0)
    with torch.no_grad(): a_ours, a_theirs = ((model(a).argmax(1) == y).float().mean().item() for a in (ours, theirs))
    assert abs(a_ours - a_theirs) <= 0.01, (a_ours, a_theirs)


def test_deepfool_succeeds_with_median_l2_no_larger_than_foolbox(setup):
    model, x, y, correct = setup
    x, y = x[correct], y[correct]
    _, info = deepfool(model, x, y, steps=50, overshoot=0.02, candidates=10, return_info=True)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    _, ref, ok = fb.attacks.L2DeepFoolAttack(steps=50, candidates=10, overshoot=0.02)(fmodel, x, y, epsilons=None)
    ref_l2 = (ref - x).flatten(1).norm(dim=1)
    assert info['success'].float().mean() >= 0.99
    both = info['success'] & ok   # paired, per image: the same algorithm, so the same perturbations up to rounding
    assert (info['l2'][both] <= ref_l2[both] * 1.001 + 1e-6).all(), (info['l2'][both] / ref_l2[both]).max()
    assert info['l2'][info['success']].median() <= ref_l2[ok].median() * 1.0001, (info['l2'].median(), ref_l2.median())


def test_linf_deepfool_matches_foolbox(setup):
    model, x, y, correct = setup
    x, y = x[correct], y[correct]
    _, info = deepfool(model, x, y, norm='linf', return_info=True)
    ref_attack = fb.attacks.LinfDeepFoolAttack(steps=50, candidates=10, overshoot=0.02)
    _, ref, ok = ref_attack(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=None)
    ref_linf = (ref - x).flatten(1).abs().amax(1)
    assert info['success'].float().mean() >= 0.99 and (info['success'] | ~ok).all()
    both = info['success'] & ok
    assert (info['linf'][both] <= ref_linf[both] * 1.001 + 1e-6).all(), (info['linf'][both] / ref_linf[both]).max()


def test_cw_succeeds_where_foolbox_does_with_no_larger_norm(setup):
    model, x, y, correct = setup
    x, y = x[correct][:60], y[correct][:60]
    kw = dict(steps=100, search_steps=5)
    _, info = cw_l2(model, x, y, c=1e-3, alpha=0.01, kappa=0, return_info=True, **kw)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    atk = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=kw['search_steps'], steps=kw['steps'], stepsize=0.01,
                                           confidence=0, initial_const=1e-3, abort_early=True)
    _, ref, ok = atk(fmodel, x, y, epsilons=None)
    ref_l2 = (ref - x).flatten(1).norm(dim=1)
    # foolbox initializes its best adversary to an all-zero image and returns it where it found none; a black image that
    # the model misclassifies then counts as a "success" (L2 ≈ the image's own norm). Those are not C&W results.
    ok = ok & (ref.flatten(1).abs().sum(1) > 0)
    assert ok.float().mean() > 0.8
    assert (info['success'] | ~ok).all(), 'C&W failed where foolbox succeeded'
    both = info['success'] & ok
    assert (info['l2'][both] <= ref_l2[both] * 1.05 + 1e-6).all(), (info['l2'][both] / ref_l2[both]).max()


@pytest.mark.parametrize('norm, eps', [('linf', 0.05), ('l2', 1.0)])
def test_apgd_agrees_with_torchattacks_and_is_at_least_as_strong(setup, norm, eps):
    model, x, y, _ = setup
    ours = apgd(model, x, y, eps=eps, steps=50, norm=norm)
    theirs = torchattacks.APGD(model, norm={'linf': 'Linf', 'l2': 'L2'}[norm], eps=eps, steps=50, seed=0)(x, y)
    with torch.no_grad(): ok_ours, ok_theirs = model(ours).argmax(1) == y, model(theirs).argmax(1) == y
    assert abs(ok_ours.float().mean() - ok_theirs.float().mean()) <= 0.005 + 1e-9   # within 0.5 points (1 of 200)
    assert (ok_ours & ~ok_theirs).sum() <= 2   # an image only theirs fools: their random start's luck, at most 1%


def test_apgd_t_agrees_with_torchattacks(setup):
    # torchattacks passes n_classes − 1 targets: 9 with 10 classes, the standard version's 9
    model, x, y, _ = setup
    ours = apgd_t(model, x, y, eps=0.05, steps=25)
    theirs = torchattacks.APGDT(model, norm='Linf', eps=0.05, steps=25, n_classes=10, seed=0)(x, y)
    with torch.no_grad(): ok_ours, ok_theirs = model(ours).argmax(1) == y, model(theirs).argmax(1) == y
    assert abs(ok_ours.float().mean() - ok_theirs.float().mean()) <= 0.005 + 1e-9
    assert (ok_ours & ~ok_theirs).sum() <= 2


@pytest.mark.parametrize('norm, eps', [('linf', 0.05), ('l2', 1.0)])
def test_square_agrees_with_torchattacks(setup, norm, eps):
    # the same schedule (p_init 0.8, no rescaling) and margin loss; the random draws differ, so agreement is statistical
    model, x, y, _ = setup
    ours = square(model, x, y, eps=eps, steps=1000, norm=norm)
    theirs = torchattacks.Square(model, norm={'linf': 'Linf', 'l2': 'L2'}[norm], eps=eps, n_queries=1000, seed=0)(x, y)
    with torch.no_grad(): ok_ours, ok_theirs = model(ours).argmax(1) == y, model(theirs).argmax(1) == y
    gap = ok_ours.float().mean() - ok_theirs.float().mean()
    assert abs(gap) <= 0.03, gap


@pytest.mark.parametrize('norm', ['linf', 'l2'])
def test_fab_projection_matches_the_reference(norm):
    from torchattacks.attacks.fab import projection_linf, projection_l2
    g = torch.Generator().manual_seed(0)
    t, w = torch.rand(100, 784, generator=g), torch.randn(100, 784, generator=g)
    b = (w * torch.rand(100, 784, generator=g)).sum(1)
    theirs = {'linf': projection_linf, 'l2': projection_l2}[norm](t, w, b)
    torch.testing.assert_close(project_hyperplane(t, w, b, norm), theirs, atol=1e-5, rtol=0)


def test_fab_t_agrees_with_torchattacks(setup):
    # torchattacks passes n_classes − 1 targets: 9 with 10 classes, the standard version's 9; no random start in either
    model, x, y, _ = setup
    ours = fab_t(model, x, y, eps=0.05, steps=20)
    theirs = torchattacks.FAB(model, norm='Linf', eps=0.05, steps=20, multi_targeted=True, n_classes=10)(x, y)
    with torch.no_grad(): ok_ours, ok_theirs = model(ours).argmax(1) == y, model(theirs).argmax(1) == y
    assert abs(ok_ours.float().mean() - ok_theirs.float().mean()) <= 0.01 + 1e-9   # within 1 point (2 of 200)


def test_autoattack_stages_agree_with_torchattacks(setup):
    # the same four attacks in the same order with the same (reduced, for CI) settings on 1,000 test images;
    # torchattacks passes n_classes − 1 = 9 targets to APGD-T and FAB-T, so ours gets 9 too
    model = setup[0]
    test = get_dataset('fashion_mnist', False)
    x, y = test.batch(balanced_indices(test.labels, 1000, 1))
    eps = 0.03
    cheap = {'APGD-CE': {'steps': 50}, 'APGD-T': {'steps': 10}, 'FAB-T': {'steps': 10}, 'Square': {'steps': 300}}
    ours = autoattack(model, x, y, eps=eps, settings=cheap)
    theirs = [torchattacks.APGD(model, eps=eps, steps=50, seed=0),
              torchattacks.APGDT(model, eps=eps, steps=10, seed=0),
              torchattacks.FAB(model, eps=eps, steps=10, multi_targeted=True, n_classes=10, seed=0),
              torchattacks.Square(model, eps=eps, n_queries=300, seed=0)]
    with torch.no_grad(): robust = model(x).argmax(1) == y
    for stage, atk in zip(ours.stages, theirs):
        a = robust.nonzero()[:, 0]
        adv = atk(x[a], y[a])
        with torch.no_grad(): robust[a] &= model(adv).argmax(1) == y[a]
        gap = stage['robust_accuracy'] - robust.float().mean().item()
        assert abs(gap) <= 0.005 + 1e-9, (stage['attack'], stage['robust_accuracy'], gap)   # within 0.5 points
