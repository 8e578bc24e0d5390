"""Files written whole or not at all, and config files read without surprises.

A full disk or a crash mid-write must never leave a truncated result where a good one
was; a config path that names a FIFO, a device or a huge file must be refused, not read.
This module never imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from gradtui.spec import SpecError

MAX_CONFIG_BYTES = 1 << 20
"""A spec is a dozen short lines; anything over 1 MiB is not one."""


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write `data` (text as UTF-8) to `path` whole, or raise OSError and leave `path` as
    it was.

    The bytes go to a new file in the same folder, are fsynced, and then renamed over
    `path` (rename is atomic within a file system). A symlink at `path` is replaced
    itself, never followed. A path that is, or leads to, something other than a regular
    file (a device such as /dev/null, a FIFO, a directory) is refused: renaming over it
    would replace the device node rather than write to it.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be str or bytes, not {type(data).__name__}")
    path = os.fspath(path)
    mode = 0o666  # the umask applies, as for open(path, "w")
    try:
        target = os.stat(path)
    except FileNotFoundError:
        pass  # nothing there, or a dangling symlink: either is replaced
    except ValueError as error:  # a NUL in the path
        raise OSError(errno.EINVAL, str(error), path) from None
    else:
        if not stat.S_ISREG(target.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if not os.path.islink(path):
            mode = stat.S_IMODE(target.st_mode)  # keep an existing file's permissions
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            if mode != 0o666:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _fsync(fd: int) -> None:
    """fsync, where the file system has it (some FUSE and network mounts do not)."""
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def free_path(folder: str | os.PathLike[str], stem: str, suffix: str) -> Path:
    """The first `stem-N.suffix` (N from 1) in `folder` with nothing there, not even a
    dangling symlink, so that saving a new file never overwrites an earlier one."""
    suffix = suffix.removeprefix(".")
    n = 1
    while True:
        path = Path(folder, f"{stem}-{n}.{suffix}")
        try:
            path.lstat()
        except FileNotFoundError:
            return path
        n += 1


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The table of a TOML config file; SpecError("config", why) for anything else.

    Only a regular file of at most MAX_CONFIG_BYTES of UTF-8 is read: a FIFO or a device
    could block or never end, and a config is never large. The file is opened
    non-blocking and checked again once open, in case it was swapped meanwhile.
    """
    import tomllib  # only here: kept off the start-up path

    shown = os.fspath(path)

    def refuse(reason: str) -> SpecError:
        return SpecError("config", f"cannot read {shown}: {reason}")

    try:
        raw = _read_regular(path, MAX_CONFIG_BYTES + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise refuse(getattr(error, "strerror", None) or str(error)) from None
    if raw is None:
        raise refuse("not a regular file")
    if len(raw) > MAX_CONFIG_BYTES:
        raise refuse(f"larger than {MAX_CONFIG_BYTES >> 20} MiB; a spec is a few lines")
    if b"\0" in raw:  # UTF-16 (ASCII text in it has NUL high bytes) or binary
        raise refuse("not UTF-8 text: it holds NUL bytes (UTF-16? binary?); save it as UTF-8")
    body = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark, as some editors write
    try:
        text = body.decode("utf-8")  # strict
    except UnicodeDecodeError as error:
        offset = error.start + len(raw) - len(body)
        raise refuse(
            f"not UTF-8 text: byte 0x{raw[offset]:02x} at offset {offset}; save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise refuse(f"not valid TOML: {error}") from None
    except RecursionError:
        raise refuse("nested too deeply to read") from None


def _read_regular(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """Up to `limit` bytes of the regular file at `path`; None for anything else, which
    is never opened for reading (a FIFO would block) or at least never read."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read(limit) if stat.S_ISREG(os.fstat(fd).st_mode) else None
