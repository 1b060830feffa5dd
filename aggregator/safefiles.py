"""Writing files safely (docs/data-safety.md "Files"): private modes, no symlinks followed,
never a device or a directory replaced, never a half-written file left at the target.

Every file pmohub writes (reports, CSV exports, the starter config, the SQLite store and
its backups) goes through here:

- :func:`atomic_output` writes to a fresh temporary file in the target's own directory
  (``tempfile.mkstemp``: a random name opened with ``O_CREAT | O_EXCL``, so a symlink
  planted at a predictable name cannot redirect it), flushes it to disk and renames it
  over the target with ``os.replace``: a reader sees the old file or the new one, never a
  torn one. A target that exists and is not a regular file (``/dev/full``, a directory,
  a FIFO, a symlink) is refused: renaming over a device node as root replaced the device.
- New files get mode 0600 (:func:`file_mode`); ``PMOHUB_FILE_MODE`` (octal, e.g. ``640``
  for a group that reads the reports) overrides it; new directories 0700.
- Spreadsheet cells: tracker text such as ``=HYPERLINK("http://evil.example","x")`` must
  never become a live formula in a file someone opens in Excel (formula injection). A text
  cell starting with one of :data:`FORMULA_TRIGGERS` is written as text in xlsx and, in CSV,
  prefixed with a single quote (:func:`neutralise_csv`, the OWASP rule).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pmohub.connectors.errors import PmohubError

DEFAULT_MODE = 0o600
DIRECTORY_MODE = 0o700
#: a text cell starting with one of these is a formula (or DDE) to a spreadsheet program
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def neutralise_csv(value: object) -> object:
    """A CSV cell that a spreadsheet program will show as text: text starting with a
    formula trigger gets a leading single quote (OWASP CSV injection); numbers, which
    are written unquoted and cannot be a formula, pass unchanged."""
    return "'" + value if is_formula_like(value) else value  # type: ignore[operator]


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) 0700 when missing; an existing one is left."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)


class UnsafeTarget(PmohubError):
    """The output path is something pmohub must not write over."""


def file_mode(default: int = DEFAULT_MODE) -> int:
    """The mode of new files: ``PMOHUB_FILE_MODE`` (octal) or ``default``."""
    raw = os.environ.get("PMOHUB_FILE_MODE", "").strip()
    if not raw:
        return default
    try:
        mode = int(raw, 8)
    except ValueError:
        raise UnsafeTarget(f"PMOHUB_FILE_MODE={raw!r} is not an octal mode such as 600") from None
    if not 0 <= mode <= 0o777:
        raise UnsafeTarget(f"PMOHUB_FILE_MODE={raw!r} is not a file mode (000-777)")
    return mode


def check_target(path: Path) -> None:
    """Refuse a target that exists and is not a regular file (symlinks included)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeTarget(f"{path} is a symbolic link; not writing through it")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeTarget(f"{path} exists and is not a regular file; not replacing it")


def create_private(path: Path) -> None:
    """Create ``path`` empty with :func:`file_mode` (refuses an existing path or a
    symlink), so a file that is filled later (SQLite's) is never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, file_mode())
    os.close(fd)


@contextlib.contextmanager
def atomic_output(target: Path | str) -> Iterator[BinaryIO]:
    """A binary file to write ``target``'s new content to; renamed over ``target`` when
    the block ends without an exception, removed otherwise (module docstring)."""
    target = Path(target)
    check_target(target)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        check_target(target)  # once more: the target may have changed while we wrote
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(target: Path | str, data: bytes) -> None:
    with atomic_output(target) as fh:
        fh.write(data)


def write_text(target: Path | str, text: str, encoding: str = "utf-8") -> None:
    write_bytes(target, text.encode(encoding))
