"A killed or failing run never leaves a half-written report: the previous one stays."
import json, os, signal, subprocess, time
import nbformat
from conftest import ROOT, BIN


def study(path, body):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("profile = 'smoke'\ndataset = None\ndevice = None\nseed = 0\nout_dir = None")
    p.metadata['tags'] = ['parameters']
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))
    return path


WRITE = ("import json, pathlib; "
         "pathlib.Path(out_dir, 'metrics.json').write_text(json.dumps({'study': 'demo', 'run': %r}))")


def previous_report(reports):
    (reports/'demo').mkdir(parents=True)
    (reports/'demo'/'metrics.json').write_text(json.dumps({'study': 'demo', 'run': 'old'}))


def test_killed_run_keeps_previous_report(tmp_path):
    studies = tmp_path/'studies'
    studies.mkdir()
    reports = tmp_path/'reports'
    previous_report(reports)
    study(studies/'demo.ipynb',
          WRITE % 'new' + "\nimport time; pathlib.Path(out_dir, 'half.csv').write_text('a,b'); time.sleep(120)")
    env = {**os.environ, 'ADVSTUDY_STUDIES': str(studies)}
    p = subprocess.Popen([str(BIN/'advstudy'), 'reproduce', '--profile', 'smoke', '--reports', str(reports)],
                         cwd=ROOT, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(reports.glob('.demo.tmp-*/half.csv')):
        assert time.time() < deadline and p.poll() is None, 'the study never started'
        time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert json.loads((reports/'demo'/'metrics.json').read_text())['run'] == 'old'
    assert sorted(x.name for x in (reports/'demo').iterdir()) == ['metrics.json']


def test_failing_study_keeps_previous_report_and_others_run(tmp_path):
    studies = tmp_path/'studies'
    studies.mkdir()
    reports = tmp_path/'reports'
    previous_report(reports)
    study(studies/'demo.ipynb', "raise RuntimeError('broken study')")
    study(studies/'other.ipynb', WRITE % 'other')
    env = {**os.environ, 'ADVSTUDY_STUDIES': str(studies)}
    r = subprocess.run([str(BIN/'advstudy'), 'reproduce', '--profile', 'smoke', '--reports', str(reports)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'RuntimeError: broken study' in r.stdout and '1/2 studies passed' in r.stdout
    assert json.loads((reports/'demo'/'metrics.json').read_text())['run'] == 'old'
    assert json.loads((reports/'other'/'metrics.json').read_text())['run'] == 'other'
    assert 'demo failed' in (reports/'index.md').read_text() and (reports/'demo.failed.ipynb').exists()
