import sys, pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    "Reports and caches go to a temporary folder: tests never touch the committed reports or the real cache."
    env = {'ADVSTUDY_REPORTS': str(tmp_path/'reports'), 'ADVSTUDY_CACHE': str(tmp_path/'cache')}
    for k, v in env.items(): monkeypatch.setenv(k, v)
    return tmp_path
