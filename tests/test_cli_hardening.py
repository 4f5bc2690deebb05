"""`advstudy reproduce` against concurrent runs, bad folders, a full disk, corrupt reports (issue 13, section 5); its
progress while a study runs (section 7); and the index as a reader sees it, in a headless browser too (section 8).
Every study here is a tiny notebook made in a temporary folder: the real ones take minutes."""
import errno, html, json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import nbformat
import pytest
from conftest import ROOT, BIN
import advstudy.reports_index as rx, advstudy.runner as rn
from advstudy.reports_index import broken_links
from advstudy.reproduce import main
from advstudy.runner import LOCK_NAME

PARAMS = "profile = 'smoke'\ndataset = None\ndevice = None\nseed = 0\nout_dir = None"
METRICS = ("import json, pathlib\npathlib.Path(out_dir, 'metrics.json').write_text(json.dumps("
           "{'study': 'demo', 'wall_time_s': 1.0, 'run': {'computed': ['m'], 'loaded': [], 'phases': {}}}))")


def study(folder, body, name='demo'):
    "A study notebook `name` in `folder` whose one cell after the parameters is `body`."
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(PARAMS)
    p.metadata['tags'] = ['parameters']
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(folder/f'{name}.ipynb'))
    return folder


def waiting(flag_dir):
    "A study body that says it started, then waits (at most 2 minutes) for a `go` file before it finishes."
    return (f"import pathlib, time\nd = pathlib.Path({str(flag_dir)!r})\n(d/'started').write_text('1')\n"
            "t = time.time()\nwhile not (d/'go').exists() and time.time() - t < 120: time.sleep(0.2)\n" + METRICS)


def cli(args, studies, **kw):
    env = {**os.environ, 'ADVSTUDY_STUDIES': str(studies), 'PYTHONUNBUFFERED': '1'}
    return subprocess.run([str(BIN/'advstudy'), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=kw.get('timeout', 300))


def start(args, studies):
    ("The CLI in the background, with Ctrl-C's default: a job started with `&` by a non-interactive shell (as CI "
     "starts it) inherits SIGINT ignored, and Python then keeps ignoring it.")
    env = {**os.environ, 'ADVSTUDY_STUDIES': str(studies)}
    return subprocess.Popen([str(BIN/'advstudy'), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(cond, p, what, limit=120):
    deadline = time.time() + limit
    while not cond():
        assert p.poll() is None, f"the run ended before {what}: {p.communicate()}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def previous_report(reports, **metrics):
    (reports/'demo').mkdir(parents=True)
    (reports/'demo'/'metrics.json').write_text(json.dumps({'study': 'demo', 'run': 'old', **metrics}))


def old_run(reports): return json.loads((reports/'demo'/'metrics.json').read_text())['run']


def dead_pid():
    "The PID of a process that has ended."
    return int(subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                              capture_output=True, text=True).stdout)


# --- 5a: one run at a time -----------------------------------------------------------------------------------------
def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    studies, reports = study(tmp_path/'studies', waiting(tmp_path)), tmp_path/'reports'
    first = start(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    try:
        wait_for(lambda: (tmp_path/'started').exists(), first, 'the study started')
        lock = reports/LOCK_NAME
        assert json.loads(lock.read_text())['pid'] == first.pid
        second = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"PID {first.pid} on" in second.stderr and str(lock) in second.stderr, second.stderr
        assert (reports/f'.demo.tmp-{first.pid}').is_dir()          # the first run's work was left alone
        (tmp_path/'go').write_text('1')
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None: first.kill()
    assert first.returncode == 0, out + err
    assert old_run(reports) == {'computed': ['m'], 'loaded': [], 'phases': {}} and not lock.exists()


def test_a_stale_lock_is_recovered_with_a_warning(tmp_path):
    studies, reports = study(tmp_path/'studies', METRICS), tmp_path/'reports'
    reports.mkdir()
    pid = dead_pid()
    (reports/LOCK_NAME).write_text(json.dumps({'pid': pid, 'host': os.uname().nodename, 'started': 'earlier'}))
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'recovered the stale lock' in r.stdout and f"PID {pid} on" in r.stdout and 'no longer running' in r.stdout
    assert not (reports/LOCK_NAME).exists()


def test_the_lock_is_released_when_a_study_fails(tmp_path):
    studies, reports = study(tmp_path/'studies', "raise RuntimeError('broken')"), tmp_path/'reports'
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 1 and 'RuntimeError: broken' in r.stdout, r.stdout + r.stderr
    assert not (reports/LOCK_NAME).exists() and (reports/'index.md').exists()


def interrupted(args, studies, sig, flags):
    "A smoke `reproduce` with `args`, sent `sig` once every study's `flags` file exists: (process, stdout, stderr)."
    p = start(['reproduce', '--profile', 'smoke', *args], studies)
    try:
        wait_for(lambda: all(f.exists() for f in flags), p, 'the studies started')
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: p.kill()
    return p, out, err


@pytest.mark.parametrize('sig,code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=['SIGTERM', 'SIGINT'])
def test_an_interrupted_run_cleans_up_and_releases_the_lock(tmp_path, sig, code):
    studies, reports = study(tmp_path/'studies', waiting(tmp_path)), tmp_path/'reports'
    previous_report(reports)
    p, out, err = interrupted(['--reports', str(reports)], studies, sig, [tmp_path/'started'])
    assert p.returncode == code, out + err
    assert old_run(reports) == 'old' and not (reports/LOCK_NAME).exists(), out + err
    assert not [x.name for x in reports.iterdir() if x.name.startswith('.')]   # no temporary folder left


@pytest.mark.parametrize('sig,code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=['SIGTERM', 'SIGINT'])
def test_an_interrupted_jobs_run_stops_both_studies_and_releases_the_lock(tmp_path, sig, code):
    "`--jobs 2`: each study in a process of its own; an interrupt stops both, removes their temporary folders, unlocks."
    studies, reports = tmp_path/'studies', tmp_path/'reports'
    for name in ('demo', 'other'):
        (tmp_path/name).mkdir()
        study(studies, waiting(tmp_path/name), name=name)
    previous_report(reports)
    started = [tmp_path/n/'started' for n in ('demo', 'other')]
    p, out, err = interrupted(['--jobs', '2', '--reports', str(reports)], studies, sig, started)
    assert p.returncode == code, out + err
    assert old_run(reports) == 'old' and not (reports/LOCK_NAME).exists(), out + err
    assert not (reports/'other').exists(), out + err                        # neither finished
    assert not [x.name for x in reports.iterdir() if x.name.startswith('.')], out + err   # no temporary folder

# --- 5b: the reports path is checked up front ----------------------------------------------------------------------
def unwritable(tmp_path):
    "A folder this user cannot write to: a read-only one, or (as root, who writes anyway) /sys; None if none."
    d = tmp_path/'ro'
    d.mkdir()
    d.chmod(0o555)
    try:
        (d/'probe').write_text('')
    except OSError:
        return d
    for c in (Path('/sys'), Path('/proc')):
        if c.is_dir() and not os.access(c, os.W_OK): return c
        try:
            (c/'.advstudy-probe').write_text('')
        except OSError:
            return c
    return None


@pytest.mark.parametrize('case', ['file', 'under a file', 'unwritable'])
def test_a_bad_reports_path_is_refused_up_front(tmp_path, case):
    studies = study(tmp_path/'studies', "raise SystemExit('the study must not run')")
    (tmp_path/'file').write_text('x')
    reports = {'file': tmp_path/'file', 'under a file': tmp_path/'file'/'reports',
               'unwritable': unwritable(tmp_path)}[case]
    if reports is None: pytest.skip('no folder here refuses writes to this user')
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 2, r.stdout + r.stderr
    expected = 'reports must be a folder, but' if case == 'file' else 'cannot be created or written to'
    assert expected in r.stderr and str(reports) in r.stderr and not r.stdout, r.stderr


# --- 5c: a full disk -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('raised', [OSError(errno.ENOSPC, 'No space left on device'), OSError(errno.ENOSPC)],
                         ids=['errno and text', 'errno only'])
def test_a_full_disk_is_named_and_the_previous_report_kept(tmp_path, monkeypatch, capsys, raised):
    studies, reports = study(tmp_path/'studies', METRICS), tmp_path/'reports'
    previous_report(reports)
    (reports/'index.md').write_text('the previous index')
    def full(path, data): raise raised
    monkeypatch.setattr(rn, 'atomic_write', full)                      # every write of metrics.json
    monkeypatch.setattr(rx, 'atomic_write', full)                      # and of the index
    monkeypatch.setenv('ADVSTUDY_STUDIES', str(studies))
    assert main(['reproduce', '--profile', 'smoke', '--reports', str(reports)]) == 1
    out, err = capsys.readouterr()
    assert '[demo] FAILED' in out and 'the disk is full' in out, out
    assert err.startswith('advstudy: error: OSError') and 'the disk is full' in err, err
    assert old_run(reports) == 'old' and (reports/'index.md').read_text() == 'the previous index'
    assert sorted(x.name for x in reports.iterdir()) == ['demo', 'demo.failed.ipynb', 'index.md']   # no tmp, no lock


def test_a_full_disk_inside_the_study_is_named(tmp_path):
    studies = study(tmp_path/'studies', "raise OSError(28, 'No space left on device')")
    reports = tmp_path/'reports'
    previous_report(reports)
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 1 and 'No space left on device; the disk is full' in r.stdout, r.stdout + r.stderr
    assert old_run(reports) == 'old'


# --- 5d: nothing to run --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('case', ['missing', 'empty'])
def test_nothing_to_run_is_an_error(tmp_path, case):
    studies = tmp_path/'studies'
    if case == 'empty': studies.mkdir()
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(tmp_path/'reports')], studies)
    assert r.returncode == 2, r.stdout + r.stderr
    assert ('does not exist' if case == 'missing' else 'nothing to run') in r.stderr and str(studies) in r.stderr
    assert 'studies passed' not in r.stdout and not (tmp_path/'reports').exists()
    if case == 'missing': assert cli(['list'], studies).returncode == 2


# --- 5e: a corrupt metrics.json of another study ------------------------------------------------------------------
def test_a_corrupt_metrics_json_of_another_study_is_left_out_of_the_index(tmp_path):
    studies, reports = study(tmp_path/'studies', METRICS), tmp_path/'reports'
    for name, data in (('garbage', b'\x89PNG\r\n\x1a\n\x00\xff'), ('alist', b'[1, 2]'), ('odd', b'{"claims": 5}')):
        (reports/name).mkdir(parents=True)
        (reports/name/'metrics.json').write_bytes(data)
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ('garbage', 'alist', 'odd'):
        assert re.search(rf"advstudy: warning: {name}: .*left out of the index", r.stdout), r.stdout
    md = (reports/'index.md').read_text()
    assert '| [demo](#demo)' in md and md.count('**Left out** of this index') == 3
    assert (reports/'index.html').read_text().count('Left out') == 3


# --- 5f: apt-get waits for the dpkg lock ---------------------------------------------------------------------------
def test_make_data_apt_get_waits_for_the_dpkg_lock():
    "Every apt-get that `make` runs (not the one its message tells a user to run) waits for the dpkg lock."
    calls = re.findall(r"(?<!sudo )\bapt-get (?:install|update)\b[^;|)&>']*", (ROOT/'Makefile').read_text())
    assert len(calls) >= 2 and all(re.search(r'-o DPkg::Lock::Timeout=\d+', c) for c in calls), calls


# --- 7: progress while a study runs --------------------------------------------------------------------------------
def test_progress_is_streamed_with_a_time_estimate_and_no_tcp_warning(tmp_path):
    body = "import time\nprint('first', flush=True)\ntime.sleep(4)\nprint('second')\n" + METRICS
    studies, reports = study(tmp_path/'studies', body), tmp_path/'reports'
    previous_report(reports, wall_time_s=5.0, run={'cold': False, 'computed': [], 'loaded': ['m']},   # a warm run
                    last_cold_wall_time_s=600.0, last_cold_date='2025-01-02',
                    last_cold_phases={'train': 500.0, 'attacks': 90.0})
    p = start(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    seen = {}
    try:
        for line in p.stdout:                                          # the lines as they come
            seen.setdefault(line.rstrip('\n'), time.time())
        err = p.stderr.read()
        p.wait(timeout=120)
    finally:
        if p.poll() is None: p.kill()
    ended, lines = time.time(), list(seen)
    assert p.returncode == 0, '\n'.join(lines) + err
    assert lines[0] == ('[demo] running demo.ipynb; the last cold run took 10 min 0 s on 2025-01-02; its longest '
                        'phases: train 8 min 20 s, attacks 90 s'), lines
    cells = [x for x in lines if x.startswith('[demo] cell ')]
    assert [x.split(',')[0] for x in cells] == ['[demo] cell 1/3', '[demo] cell 2/3', '[demo] cell 3/3'], lines
    assert all(re.fullmatch(r'\[demo\] cell \d/3, \d+ s in, up to \d+ min \d+ s left', x) for x in cells), cells
    assert lines.index('[demo] first') < lines.index('[demo] second')
    assert ended - seen['[demo] first'] > 3, 'the study output came only at the end, not while it ran'
    assert 'without encryption' not in '\n'.join(lines) + err and 'Kernel is running over TCP' not in err, err
    # the cold run just made records its seconds per cell: the next run's estimate follows the cells still to come
    m = json.loads((reports/'demo'/'metrics.json').read_text())
    assert m['last_cold_wall_time_s'] == 1.0 and len(m['last_cold_cells_s']) == 3 and m['last_cold_cells_s'][2] > 3


# --- 8: the index as a reader sees it ------------------------------------------------------------------------------
REPORT_STUDY = '''
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt, pandas as pd
from advstudy.report import Report
rep = Report('demo', out_dir, {'profile': profile})
with rep.phase('train'): rep.record('model', loaded=False)
rep.table('results', pd.DataFrame({'attack': ['FGSM', 'BIM'], 'accuracy': [0.5, 0.4]}), 'Accuracy under attack')
fig, ax = plt.subplots(); ax.plot([0, 1], [1, 0]); rep.figure('accuracy_vs_eps', fig, 'Accuracy against eps')
fig, ax = plt.subplots(); ax.bar([0, 1], [1, 2]); rep.figure('per class', fig, 'A name with a space')
for i, v in enumerate(['holds', 'does not hold', 'inconclusive', 'inconclusive']):
    rep.claim(f'claim {i}', 1, 2, v, evidence='n = 1')
rep.finish()
'''


@pytest.fixture(scope='module')
def index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('index')
    studies, reports = study(tmp/'studies', REPORT_STUDY), tmp/'reports'
    study(studies, "raise ValueError('broken')", name='failing')
    r = cli(['reproduce', '--profile', 'smoke', '--reports', str(reports)], studies)
    assert r.returncode == 1 and '1/2 studies passed' in r.stdout, r.stdout + r.stderr
    return reports


def test_the_index_starts_with_a_summary(index):
    md = (index/'index.md').read_text()
    row = re.search(r'^\| \[demo\]\(#demo\) · \[notebook\]\(demo/demo\.ipynb\) \| – \| 1 \| 1 \| 2 \| '
                    r'2 without an estimate \| (\d+ s) on '
                    r'\d{4}-\d\d-\d\d \| (\d+ s) \(cold\) \|$', md, flags=re.M)
    assert row, md
    assert '| failing (failed, no report) |' in md and md.index('## Summary') < md.index('## demo')
    h = (index/'index.html').read_text()
    assert "<h2 id='summary'>Summary</h2>" in h and "<td><a href='#demo'>demo</a>" in h
    assert re.search(r"<td>–</td><td class='n'>1</td><td class='n'>1</td><td class='n'>2</td>"
                     r"<td>2 without an estimate</td>", h), h


def test_the_index_has_no_broken_links(index, tmp_path):
    assert broken_links(index/'index.html') == [] and broken_links(index/'index.md') == []
    assert 'demo/per%20class.png' in (index/'index.html').read_text()   # a file name with a space, quoted
    copy = tmp_path/'r'
    shutil.copytree(index, copy)
    (copy/'demo'/'accuracy_vs_eps.png').unlink()
    (copy/'demo'/'results.csv').unlink()
    assert broken_links(copy/'index.html') == ['demo/results.csv', 'demo/accuracy_vs_eps.png']
    assert broken_links(copy/'index.md') == ['demo/results.csv', 'demo/accuracy_vs_eps.png']


CHECKER = '''<!doctype html><html><body><pre id="result">not loaded</pre><iframe id="f" src="%s"></iframe><script>
const f = document.getElementById('f');
f.onload = () => {
  const d = f.contentDocument, r = {title: d.title, images: [], links: []};
  for (const i of d.images) r.images.push([i.getAttribute('src'), i.complete && i.naturalWidth > 0]);
  for (const a of d.querySelectorAll('a[href]')) {
    const h = a.getAttribute('href');
    let ok = null;
    if (h.startsWith('#')) ok = !!d.getElementById(decodeURIComponent(h.slice(1)));
    else if (!/^[a-z]+:/i.test(h)) {
      try { const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); ok = true; }
      catch (e) { ok = false; }
    }
    r.links.push([h, ok]);
  }
  document.getElementById('result').textContent = JSON.stringify(r);
};
</script></body></html>'''


def chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')


@pytest.mark.skipif(not chromium(), reason="no headless browser: install Debian's chromium (as root: "
                    "apt-get install -y -o DPkg::Lock::Timeout=300 chromium) to render the index")
def test_the_index_renders_in_a_headless_browser(index, tmp_path):
    page = tmp_path/'check.html'
    page.write_text(CHECKER % (index/'index.html').as_uri())
    r = subprocess.run([chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files',
                        f'--user-data-dir={tmp_path/"profile"}', '--virtual-time-budget=10000', '--dump-dom',
                        page.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="result">(.*?)</pre>', r.stdout, flags=re.S)
    assert found and found.group(1) != 'not loaded', r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result['title'] == 'advstudy reports'
    assert len(result['images']) == 2 and all(ok for _, ok in result['images']), result['images']
    assert result['links'] and all(ok for _, ok in result['links']), result['links']
