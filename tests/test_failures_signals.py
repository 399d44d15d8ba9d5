"""Failure modes (issue 11 and issue 25; docs/failures.md): Ctrl-C and SIGTERM in the CLI (one line, exit
130 / 143, which checkpoint is kept) and in the Python API (KeyboardInterrupt inside a run only, the caller's
handlers back afterwards, the workdir lock)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mlexp.io.lock import WorkdirLock
from test_failures import REPO, assert_one_line, env, tiny_run

# ---------------------------------------------------------------- Ctrl-C / SIGTERM in the CLI


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_first_second_is_one_line(tmp_path, signum):
  wd = tmp_path / "early"
  p = subprocess.Popen([sys.executable, "-m", "mlexp.main", "--config=configs/linear.py:smoke", f"--workdir={wd}"],
                       cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(0.7)
  p.send_signal(signum)
  out, err = p.communicate(timeout=120)
  assert p.returncode == (130 if signum == signal.SIGINT else 143), err
  words = ["interrupted"] if signum == signal.SIGINT else ["terminated (SIGTERM)"]
  assert_one_line(err, *words)
  # 0.7 s may fall before or after the workdir is made (machine speed): either way no lock or summary is left
  assert not os.path.exists(wd / ".lock") and not os.path.exists(wd / "summary.json")


SLOW_EPOCH = """
from mlexp.training.group import Group
real_epoch = Group.epoch
n = []
def epoch(self, state):
  n.append(1)
  if len(n) == {at}:
    print("in epoch {at}", flush=True)
    {body}
  return real_epoch(self, state)
Group.epoch = epoch
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_before_the_first_checkpoint_claims_none(tmp_path, signum):
  wd = tmp_path / "run"
  rc, out, err = tiny_run(wd, SLOW_EPOCH.format(at=1, body="time.sleep(60)"), signal_at=("in epoch 1", signum))
  assert rc == (130 if signum == signal.SIGINT else 143), err
  line = assert_one_line(err, "no epoch had been checkpointed yet", "run again to start over")
  assert "checkpoint of epoch" not in line
  assert not os.path.exists(wd / "summary.json") and not os.path.exists(wd / ".lock")


def test_ctrl_c_after_a_checkpoint_names_its_epoch(tmp_path):
  wd = tmp_path / "run"
  rc, out, err = tiny_run(wd, SLOW_EPOCH.format(at=2, body="time.sleep(60)"), epochs=3,
                          signal_at=("in epoch 2", signal.SIGINT))
  assert rc == 130, err
  assert_one_line(err, "interrupted", "checkpoint of epoch 1", "run again to resume")


def test_a_swallowed_ctrl_c_still_ends_with_130(tmp_path):
  """A library that catches KeyboardInterrupt must not turn Ctrl-C into a normal exit 0."""
  body = "try:\n      time.sleep(60)\n    except KeyboardInterrupt:\n      pass"
  rc, out, err = tiny_run(tmp_path / "run", SLOW_EPOCH.format(at=1, body=body), signal_at=("in epoch 1", signal.SIGINT))
  assert rc == 130, err
  assert_one_line(err, "interrupted")



# ---------------------------------------------------------------- signals in the Python API (a notebook)

API_SCRIPT = """
import os, signal, sys, threading, time
import tiny
from mlexp.training import trainer
trainer.load_data = lambda config: tiny.sequence_dataset()
import mlexp
# the kernel's handler, installed as a notebook kernel does (not inherited: a suite started in the background of a
# non-interactive shell passes SIGINT on ignored, and CPython then keeps it ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
kernel = signal.getsignal(signal.SIGINT)
c = mlexp.get_config("linear", smoke=True)
c.batch_size, c.epochs = 8, {epochs}
{body}
"""


def api_script(workdir, body, epochs=2, timeout=300):
  code = API_SCRIPT.format(epochs=epochs, body=textwrap.dedent(body))
  p = subprocess.run([sys.executable, "-u", "-c", code], cwd=REPO, env={**env(), "W": str(workdir)},
                     capture_output=True, text=True, timeout=timeout)
  return p.returncode, p.stdout, p.stderr


def test_api_ctrl_c_after_a_run_is_keyboardinterrupt_not_exit(tmp_path):
  """The issue's reproduction: after mlexp.train, a SIGINT is Python's KeyboardInterrupt (the kernel lives),
  and the process's own handler is back."""
  rc, out, err = api_script(tmp_path / "w", """
    mlexp.train(c, workdir=os.environ["W"])
    assert signal.getsignal(signal.SIGINT) is kernel, signal.getsignal(signal.SIGINT)
    import mlexp.main  # importing the CLI module installs nothing either
    assert signal.getsignal(signal.SIGINT) is kernel
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
      time.sleep(20)
    except KeyboardInterrupt:
      print("caught KeyboardInterrupt")
    """)
  assert rc == 0, err
  assert "caught KeyboardInterrupt" in out


def test_api_ctrl_c_inside_a_run_raises_and_the_run_resumes(tmp_path):
  w = tmp_path / "w"
  rc, out, err = api_script(w, """
    import mlexp.io.writers as writers
    n = [0]
    write = writers.JsonlWriter.write
    def write_then_interrupt(self, *a, **k):
      write(self, *a, **k)
      n[0] += 1
      if n[0] == 1:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    writers.JsonlWriter.write = write_then_interrupt
    try:
      mlexp.train(c, workdir=os.environ["W"])
    except KeyboardInterrupt:
      print("interrupted inside the run")
    assert signal.getsignal(signal.SIGINT) is kernel
    writers.JsonlWriter.write = write
    r = mlexp.train(c, workdir=os.environ["W"])
    print("epochs", sorted(set(r.metrics["epoch"])))
    """, epochs=4)
  assert rc == 0, err
  assert "interrupted inside the run" in out and "epochs [1, 2, 3, 4]" in out, out


def test_api_takes_the_workdir_lock(tmp_path):
  w = tmp_path / "w"
  os.makedirs(w)
  with WorkdirLock(str(w)):
    rc, out, err = api_script(w, """
      from mlexp.io.lock import WorkdirBusy
      try:
        mlexp.train(c, workdir=os.environ["W"])
      except WorkdirBusy as e:
        print("busy:", e)
      """)
  assert rc == 0, err
  assert f"busy: {w} is in use by process {os.getpid()}" in out, out


def test_a_signal_some_library_dropped_ends_the_run_after_the_epoch(monkeypatch):
  """The handler records every signal; a KeyboardInterrupt that a library caught and dropped is raised again by
  the last hook of the epoch (the run stops there, its checkpoint kept), not after the run's last epoch."""
  from mlexp.io import signals
  sig = signals.Signals(exit_before_start=False, exit_on_third=False)
  monkeypatch.setattr(signals, "_INSTALLED", [sig])
  hook = signals.SignalHook()
  hook.after_epoch(None, 1, {}, 0.0)  # nothing received: the run goes on
  sig.received.append(signal.SIGTERM)
  hook.after_epoch(None, 1, {}, 0.0)  # received before the run started (the CLI exits there): not this hook's
  sig.running = True
  with pytest.raises(KeyboardInterrupt):
    hook.after_epoch(None, 2, {}, 0.0)
