"""Write-then-rename helpers so that no failed or interrupted command leaves a partial output behind."""
from __future__ import annotations

import contextlib
import hashlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from vst.common.errors import VstError


def ensure_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VstError(f"cannot create output folder {directory}: {exc.strerror}; choose a writable path") from None
    if not os.access(directory, os.W_OK):
        raise VstError(f"output folder {directory} is not writable; choose a writable path")


def check_creatable_dir(directory: Path) -> None:
    """What ensure_writable_dir checks, without creating anything: for validating arguments before any work,
    so that a command that fails leaves no empty folders behind."""
    existing = Path(directory).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise VstError(f"cannot create output folder {directory}: {existing} is a file; choose another path")
    if not os.access(existing, os.W_OK):
        raise VstError(f"output folder {directory} is not writable; choose a writable path")
    # os.access says yes to root everywhere, and to read-only mounts and /proc: only a file made there tells
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        where = "" if existing == Path(directory).absolute() else f" (made in {existing})"
        raise VstError(f"output folder {directory}{where} refuses new files ({exc.strerror}); choose a writable "
                       "path") from None


def _same_file(a: Path, b: Path) -> bool:
    """Whether two names reach the same file: the same path once symlinks are resolved, or one inode (a hard
    link, a bind mount)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False            # one of them does not exist: the output is new


def check_not_input(output: str | os.PathLike | None, inputs, flag: str = "-o") -> None:
    """Before any work: refuse an output that is one of the command's inputs (the output would replace it).
    `inputs` are paths or model names; a name FILE:N (a style index) counts as FILE."""
    if output is None:
        return
    out = Path(output)
    for item in inputs:
        if item is None:
            continue
        text = os.fspath(item)
        base = text.rpartition(":")[0] if ":" in text else ""
        for candidate in filter(None, (text, base)):
            if _same_file(out, Path(candidate)):
                raise VstError(f"{flag} {output} is also an input ({text}): writing it would destroy that input; "
                               "give another output path")


def new_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, deepest first."""
    new, p = [], Path(path).absolute()
    while not p.exists() and not p.is_symlink() and p != p.parent:
        new.append(p)
        p = p.parent
    return new


def prune_empty(folders: list[Path], ignorable: tuple[str, ...] = ()) -> None:
    """Remove those of `folders` (made by this command) that hold no file but `ignorable` ones, deepest first."""
    for top in folders:
        if top.is_symlink() or not top.is_dir():
            continue
        for dirpath, _, files in os.walk(top, topdown=False):
            if all(f in ignorable for f in files):
                for f in files:
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(dirpath, f))
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)        # fails, as it should, where a subfolder with files remains


@contextlib.contextmanager
def prune_on_failure(path: str | os.PathLike, ignorable: tuple[str, ...] = ()) -> Iterator[None]:
    """Around a command's work on the output `path`: if the work fails or is interrupted, remove the folders it
    created for `path` (the path itself and missing parents) that hold no file, or only `ignorable` ones (a
    store's lock), so that a failure leaves no empty folders behind. Finished results and folders that existed
    before are kept."""
    new = new_folders(Path(path))
    try:
        yield
    except BaseException:
        prune_empty(new, ignorable)
        raise


# Errors of the disk or of the path the user named, not of vst: they become one line naming the output.
_USER_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only", errno.EFBIG: "the file is too large for the file system",
                errno.ENAMETOOLONG: "the name is too long"}


def _user_error(target: Path, exc: OSError) -> VstError | None:
    if exc.errno in _USER_ERRNOS:
        return VstError(f"cannot write {target}: {_USER_ERRNOS[exc.errno]}; free space or choose another path")
    return None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    if target.is_dir():
        raise VstError(f"output {target} is a folder; give a file path")
    with prune_on_failure(target.parent):      # the folders made for an output that was never written
        ensure_writable_dir(target.parent if str(target.parent) else Path("."))
        with _temporary_beside(target, suffix) as tmp_path:
            yield tmp_path


@contextlib.contextmanager
def _temporary_beside(target: Path, suffix: str) -> Iterator[Path]:
    try:
        # a shortened prefix: a name that fits the file system must not fail for its temporary twin
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=suffix or target.suffix[:16] + ".tmp",
                                   dir=target.parent)
    except OSError as exc:
        # the folder the user named refuses files (permissions, a read-only or pseudo file system): their path
        raise (_user_error(target, exc) or VstError(f"cannot write {target} ({exc.strerror}); choose a writable "
                                                    "path")) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            if tmp_path.is_file():
                # mkstemp creates 0600; give the file the mode a plain open() would have
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp_path, 0o666 & ~umask)
            os.replace(tmp_path, target)
        except OSError as exc:
            err = _user_error(target, exc)
            if err is None:
                raise
            raise err from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_folder(target: str | os.PathLike, write, suffix: str) -> None:
    """A package folder (.mlpackage, .aimodel) written beside its final place by `write(tmp)`, then renamed in: no
    partial package. `suffix`: the temporary's, which some writers insist on."""
    target = Path(target)
    ensure_writable_dir(target.parent)
    tmp = target.with_name(f".{target.stem}.tmp{suffix}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def sha256_of(path: str | Path) -> str:
    """Content hash of a file, or of every file under a folder (Core ML packages are folders)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def size_of(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder (Core ML packages are folders)."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
