"""Out-of-space and other OS errors, however a library wraps them: one line for the CLI (exit 5) and the API.

Orbax / TensorStore report a full disk as `ValueError: RESOURCE_EXHAUSTED ... No space left on device`, raised
in a worker thread and re-raised later: `os_error_in` finds the OSError (or that text) in an exception's chain.
"""
from __future__ import annotations

import errno

_NO_SPACE = ("No space left on device", "RESOURCE_EXHAUSTED", "Disk quota exceeded", "os_error_code='28'")


def os_error_in(e: BaseException | None) -> OSError | None:
  """The OSError that caused e (Orbax and threads wrap them), or an ENOSPC OSError for an out-of-space error
  that is no OSError (Orbax's ValueError); None when e is no OS error."""
  seen = 0
  while e is not None and seen < 20:
    if isinstance(e, OSError) and e.errno is not None:
      return e
    if any(w in str(e) for w in _NO_SPACE):
      return OSError(errno.ENOSPC, "No space left on device")
    e = e.__cause__ or e.__context__
    seen += 1
  return None


def os_error_message(e: OSError, workdir: str) -> str:
  """One line: what could not be written and what to do."""
  where = e.filename or workdir
  if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
    return (f"no space left on the device of {where}; free some space and run the same command again (it "
            "resumes from the last checkpoint)")
  if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
    return f"cannot write {where}: {e.strerror}; use a writable --workdir"
  if e.errno in (errno.ENOTDIR, errno.EEXIST):
    return f"--workdir={workdir} is a file or lies under one; give a folder"
  return f"cannot write {where}: {e.strerror or e}; check --workdir={workdir}"


class WorkdirWriteError(OSError):
  """The API's out-of-space / unwritable-workdir error: an OSError whose str() is one line."""

  def __str__(self):
    return self.args[1] if len(self.args) > 1 else super().__str__()


def as_one_line(e: BaseException, workdir: str) -> WorkdirWriteError | None:
  """For the API: e as a one-line OSError (same errno), or None when e is no OS error."""
  os_err = os_error_in(e)
  if os_err is None:
    return None
  return WorkdirWriteError(os_err.errno, os_error_message(os_err, workdir).replace("--workdir", "workdir"))
