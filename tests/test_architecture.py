"""Layers, not circles: the package's imports (deferred ones inside functions included) form no cycle; and the notebooks
build as documentation: no cell that nbdev's docs processing runs mixes imports with other code."""
import ast, graphlib, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    "The dotted name of the module at `path` in the package under `root` (a package's `__init__` is the package)."
    parts = path.relative_to(root).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def import_graph(root: Path, package: str = 'advstudy') -> dict:
    "{module: the package's modules it imports anywhere in its code, functions included}, for the package under `root`."
    files = {module_name(p, root): p for p in (root/package).rglob('*.py') if p.name != '_modidx.py'}
    graph = {m: set() for m in files}
    for m, p in files.items():
        here = m.split('.') if p.name == '__init__.py' else m.split('.')[:-1]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import): targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level: base = '.'.join(here[:len(here) - node.level + 1] + ([base] if base else []))
                targets = [base, *(f'{base}.{a.name}' for a in node.names)]
            else: continue
            for t in targets:   # an imported package's own __init__ does not count: it only gathers its modules
                if t in files and t != m and files[t].name != '__init__.py': graph[m].add(t)
    return graph


def cycle(graph: dict) -> list | None:
    "The modules of one import cycle (the first closing the loop), or None when the imports are layered."
    try: list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e: return e.args[1]
    return None


def test_the_check_finds_a_deferred_cycle(tmp_path):
    pkg = tmp_path/'advstudy'
    pkg.mkdir()
    (pkg/'__init__.py').write_text('')
    (pkg/'low.py').write_text('def f():\n    from advstudy.high import g   # deferred, still a cycle\n')
    (pkg/'high.py').write_text('from .low import f\n')
    found = cycle(import_graph(tmp_path))
    assert found is not None and set(found) == {'advstudy.low', 'advstudy.high'}, found
    (pkg/'low.py').write_text('def f(): pass\n')
    assert cycle(import_graph(tmp_path)) is None


def test_the_package_imports_form_no_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 30, sorted(graph)
    found = cycle(graph)
    assert found is None, f"the package's imports form a cycle: {' -> '.join(found)}"


@pytest.mark.parametrize('lower,higher', [('advstudy.layers', 'advstudy.models'),
                                          ('advstudy.models', 'advstudy.advprop'),
                                          ('advstudy.parallel', 'advstudy.train'),
                                          ('advstudy.train', 'advstudy.distributed')])
def test_building_blocks_sit_below_what_uses_them(lower, higher):
    "The layers the issue named: blocks below models, process-group primitives below train, the worker above it."
    graph = import_graph(ROOT)
    reach, todo = set(), [lower]
    while todo:
        for t in graph[todo.pop()] - reach: reach.add(t); todo.append(t)
    assert higher not in reach, f'{lower} imports {higher} (directly or through another module)'


def mixed_cells(nb_path: Path) -> list:
    """Indices of the code cells nbdev's docs processing runs for their imports (not exported, not `eval: false`) and
    that also hold other top-level code: nbdev warns of them, and runs their code without the cells before them."""
    bad = []
    for i, c in enumerate(json.loads(nb_path.read_text())['cells']):
        src = ''.join(c['source'])
        if c['cell_type'] != 'code' or re.search(r'^#\|\s*(export|exports|exporti|exec_doc)\b', src, re.M): continue
        if re.search(r'^#\|\s*eval:\s*false', src, re.M): continue
        body = ast.parse('\n'.join('' if line.startswith(('%', '!')) else line for line in src.splitlines())).body
        imports = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)
        if imports and any(isinstance(n, (ast.Expr, ast.Assign)) for n in body): bad.append(i)
    return bad


def test_no_notebook_cell_mixes_imports_with_other_code():
    bad = {str(p.relative_to(ROOT)): cells for p in sorted((ROOT/'nbs').glob('*.ipynb')) if (cells := mixed_cells(p))}
    assert not bad, f'cells mixing imports with other code (split them: imports first): {bad}'


def study_functions(nb_path: Path) -> list:
    "The functions (def or lambda) a study notebook's code defines, as 'cell N: name'."
    found = []
    for i, c in enumerate(json.loads(nb_path.read_text())['cells']):
        if c['cell_type'] != 'code': continue
        src = '\n'.join('' if line.startswith(('%', '!')) else line for line in ''.join(c['source']).splitlines())
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): found.append(f'cell {i}: {n.name}')
            if isinstance(n, ast.Lambda): found.append(f'cell {i}: lambda at line {n.lineno}')
    return found


def test_study_notebooks_read_as_recipes():
    "A study notebook is parameters, one setup call, library calls and drawings: its glue lives in the library."
    notebooks = sorted((ROOT/'nbs'/'studies').glob('*.ipynb'))
    assert len(notebooks) >= 6, notebooks
    bad = {p.name: found for p in notebooks if (found := study_functions(p))}
    assert not bad, f'study notebooks defining functions (move them to advstudy.studies.<study>): {bad}'
