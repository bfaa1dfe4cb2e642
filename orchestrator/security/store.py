"""Key files on disk: written 0600 into a 0700 directory of the run's private directory, read
back only when nobody else could have read or changed them, removed with the run."""

from __future__ import annotations

import os
import stat

from orchestrator.errors import SecurityError
from orchestrator.security.keys import Keyring

Z85_KEY_LENGTH = 40


def write(keyring: Keyring) -> None:
    """One file per key pair holding its secret key; refuses to reuse or follow anything."""
    os.mkdir(keyring.directory, 0o700)
    for label, pair in keyring.pairs.items():
        fd = os.open(keyring.secret_file(label), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, pair.secret.encode("ascii") + b"\n")
        finally:
            os.close(fd)


def _private(st: os.stat_result, what: str, path: str) -> None:
    if st.st_mode & 0o077:
        raise SecurityError(f"{what} {path} is open to group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                            f"refused: chmod {'700' if what == 'key directory' else '600'} it")  # fmt: skip
    if st.st_uid != os.geteuid():
        raise SecurityError(f"{what} {path} belongs to uid {st.st_uid}, not to this user; refused")


def read_secret(path: str) -> bytes:
    """The Z85 secret key in `path`. Raises SecurityError, never showing the file's content."""
    try:
        _private(os.stat(os.path.dirname(os.path.abspath(path))), "key directory", os.path.dirname(path))
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SecurityError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecurityError(f"key file {path} is not a regular file; refused")
        _private(st, "key file", path)
        data = os.read(fd, 256).strip()
    finally:
        os.close(fd)
    if len(data) != Z85_KEY_LENGTH:
        raise SecurityError(f"key file {path} does not hold a Z85 CURVE key ({Z85_KEY_LENGTH} characters)")
    return data
