"""Layout rules that ruff does not check: at most four positional arguments per call, no names in one scope that differ
only by case, lines of at most 120 characters in the generated package, and documented parameters on long signatures."""
import ast, json
from pathlib import Path
import pytest
from fastcore.docments import docments

ROOT = Path(__file__).resolve().parents[1]
MAX_POSITIONAL, MAX_LINE = 4, 120


def sources():
    "(name, code) for every module of the package, every code cell of the notebooks, and every test file."
    for p in sorted((ROOT/'advstudy').rglob('*.py')):
        if p.name != '_modidx.py': yield str(p.relative_to(ROOT)), p.read_text()
    for p in sorted((ROOT/'nbs').rglob('*.ipynb')):
        cells = json.loads(p.read_text())['cells']
        for i, c in enumerate(cells):
            if c['cell_type'] != 'code': continue
            lines = ''.join(c['source']).splitlines()
            code = '\n'.join(line for line in lines if not line.lstrip().startswith(('%', '!')))
            yield f'{p.relative_to(ROOT)} cell {i}', code
    for p in sorted((ROOT/'tests').glob('*.py')): yield str(p.relative_to(ROOT)), p.read_text()


ALL_SOURCES = list(sources())


def test_calls_pass_at_most_four_arguments_by_position():
    bad = [f'{name}:{n.lineno} {ast.unparse(n.func)}' for name, code in ALL_SOURCES for n in ast.walk(ast.parse(code))
           if isinstance(n, ast.Call) and len(n.args) > MAX_POSITIONAL
           and not any(isinstance(a, ast.Starred) for a in n.args)]
    assert not bad, f'calls with more than {MAX_POSITIONAL} positional arguments: {bad}'


def _names(scope) -> dict:
    "The names bound directly in `scope` (not in the functions or classes nested in it): name → 'class' or 'other'."
    found, todo = {}, list(ast.iter_child_nodes(scope))
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store): found[n.id] = 'other'
        if isinstance(n, ast.arg): found[n.arg] = 'other'
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(n, ast.Lambda): found[n.name] = 'class' if isinstance(n, ast.ClassDef) else 'def'
            continue
        todo.extend(ast.iter_child_nodes(n))
    return found


def _twins(kinds) -> bool:
    "An attack class and its functional twin (`PGD` and `pgd`): the one pair of names allowed to differ by case."
    return sorted(kinds) == ['class', 'def']


def test_no_names_differing_only_by_case():
    bad = []
    for name, code in ALL_SOURCES:
        tree = ast.parse(code)
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
            names, by_lower = _names(scope), {}
            for v in names: by_lower.setdefault(v.lower(), set()).add(v)
            bad += [f'{name}: {sorted(v)}' for v in by_lower.values()
                    if len(v) > 1 and not _twins([names[x] for x in v])]
    assert not bad, f'names that differ only by case: {bad}'


def test_package_lines_are_at_most_120_characters():
    "ruff checks the notebooks (the source); here the generated package, apart from nbdev's own `__all__` line."
    bad = [f'{name}:{i}' for name, code in ALL_SOURCES if name.startswith('advstudy')
           for i, line in enumerate(code.splitlines(), 1)
           if len(line) > MAX_LINE and not line.startswith('__all__ = [')]
    assert not bad, f'lines over {MAX_LINE} characters: {bad}'


@pytest.mark.parametrize('qualname', ['advstudy.attacks.pgd', 'advstudy.attacks.fgsm', 'advstudy.attacks.bim',
                                      'advstudy.attacks.deepfool',
                                      'advstudy.attacks.cw_l2', 'advstudy.attacks.c_uap', 'advstudy.attacks.f_uap',
                                      'advstudy.attacks.cd_uap'])
def test_long_signatures_document_every_parameter(qualname):
    mod, fn = qualname.rsplit('.', 1)
    docs = docments(getattr(__import__(mod, fromlist=[fn]), fn))
    missing = [p for p, d in docs.items() if p != 'return' and not d]
    assert not missing, f'{qualname}: undocumented parameters {missing}'


def _public_defs(tree: ast.Module):
    "(qualname, def, is_method): the functions named in the module's `__all__`, the public methods of its classes."
    exported = {ast.literal_eval(e) for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name) and t.id == '__all__' for e in n.value.elts}
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in exported: yield n.name, n, False
        if isinstance(n, ast.ClassDef) and n.name in exported:
            yield from ((f'{n.name}.{m.name}', m, True) for m in n.body   # constructors and calls are public too
                        if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and (not m.name.startswith('_') or m.name in ('__init__', '__call__')))


def _unannotated(fn, method: bool) -> list:
    "The parameters of `fn` (and 'return') that have no annotation; a method's `self`/`cls` needs none."
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p)]
    static = any(isinstance(d, ast.Name) and d.id == 'staticmethod' for d in fn.decorator_list)
    if method and not static and params and params[0].arg in ('self', 'cls'): params = params[1:]
    no_return = fn.returns is None and fn.name != '__init__'   # a constructor returns None: PEP 484 allows no -> None
    return [p.arg for p in params if p.annotation is None] + ['return'] * no_return


def test_public_functions_are_typed():
    "Every public function and method of the package annotates each parameter and its return (`py.typed` says so)."
    bad = [f'{name}: {q}({", ".join(missing)})' for name, code in ALL_SOURCES if name.startswith('advstudy')
           for q, fn, method in _public_defs(ast.parse(code)) if (missing := _unannotated(fn, method))]
    assert not bad, f'{len(bad)} public functions lack annotations:\n' + '\n'.join(bad)


def test_package_ships_py_typed():
    "PEP 561's marker is in the package and in its package data (nbdev writes only the .py files beside it)."
    import tomllib
    assert (ROOT/'advstudy'/'py.typed').is_file()
    config = tomllib.loads((ROOT/'pyproject.toml').read_text())
    assert 'py.typed' in config['tool']['setuptools']['package-data']['advstudy']
