"""Failure modes, round two (issue 25; docs/failures.md): strictly typed variant values and config files, one
clean line for a field typo, ConfigError (not a raw Python error) from the API."""
from __future__ import annotations

import subprocess
import sys

import pytest

from test_failures import REPO, assert_one_line, env

# ---------------------------------------------------------------- strictly typed config arguments and files


@pytest.mark.parametrize("value", ["ture", "maybe"])
def test_a_misspelt_bool_variant_value_is_an_error(value):
  from mlexp.config.defaults import parse_arg
  with pytest.raises(ValueError, match=f"smoke='{value}': not a bool; allowed: true, false, 1, 0, yes, no"):
    parse_arg(f"smoke={value}", smoke=False)
  assert parse_arg("smoke=no,n=3", smoke=True, n=1).to_dict() == {"smoke": False, "n": 3}
  with pytest.raises(ValueError, match="n='x': expected a value of type int"):
    parse_arg("n=x", n=1)


BAD_FILES = {
    "returns_dict": ("def get_config(arg=None):\n  return {'epochs': 1}\n", "returned a dict"),
    "exits": ("import sys\ndef get_config(arg=None):\n  sys.exit(3)\n", "sys.exit(3)"),
    "exits_on_import": ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_config_file_returning_a_dict_or_exiting_is_one_line_exit_2(tmp_path, case):
  import mlexp
  from mlexp.config import ConfigError
  text, words = BAD_FILES[case]
  (tmp_path / "c.py").write_text(text)
  p = subprocess.run([sys.executable, "-m", "mlexp.main", f"--config={tmp_path / 'c.py'}",
                      f"--workdir={tmp_path / 'w'}"], cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)
  assert p.returncode == 2, p.stderr
  assert_one_line(p.stderr, str(tmp_path / "c.py"), words)
  with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
    mlexp.get_config(str(tmp_path / "c.py"))


def test_cli_field_typo_is_one_clean_line_with_the_suggestion(tmp_path):
  p = subprocess.run([sys.executable, "-m", "mlexp.main", "--config=configs/linear.py:smoke",
                      "--config.optimizer.learning_rat=0.1", f"--workdir={tmp_path / 'w'}"], cwd=REPO, env=env(),
                     capture_output=True, text=True, timeout=60)
  assert p.returncode == 2, p.stderr
  line = assert_one_line(p.stderr, "--config.optimizer.learning_rat=0.1", "did you mean", "learning_rate")
  assert "\\n" not in line and "\\'" not in line




API_ERRORS = {
    "syntax": ("def get_config(:\n", "syntax error at line 1"),
    "raises": ("def get_config(arg=None):\n  return 1 / 0\n", "raised ZeroDivisionError: division by zero"),
}


def test_api_errors_are_config_errors_of_one_line(tmp_path, monkeypatch):
  """The issue's four: a config file's SyntaxError / ZeroDivisionError, a workdir that is a file (was
  FileExistsError) or lies under one, and mlexp.load of a folder that is no workdir (was FileNotFoundError,
  and still is one)."""
  import mlexp
  from mlexp.config import ConfigError
  monkeypatch.setenv("MLEXP_COMPILATION_CACHE", "")
  for name, (text, words) in API_ERRORS.items():
    (tmp_path / f"{name}.py").write_text(text)
    with pytest.raises(ConfigError, match=words) as e:
      mlexp.get_config(str(tmp_path / f"{name}.py"))
    assert "\n" not in str(e.value) and str(tmp_path / f"{name}.py") in str(e.value)
  (tmp_path / "afile").write_text("x")
  for w in (tmp_path / "afile", tmp_path / "afile" / "sub"):
    with pytest.raises(ConfigError, match="is a file or lies under one; give a folder"):
      mlexp.train(mlexp.get_config("linear", smoke=True), workdir=w)
  assert (tmp_path / "afile").read_text() == "x"
  for w in (tmp_path / "nowhere", tmp_path / "afile"):
    with pytest.raises(ConfigError, match="should be an mlexp workdir") as e:
      mlexp.load(w)
    assert isinstance(e.value, FileNotFoundError)
