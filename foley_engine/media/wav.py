"""WAV writing that never leaves a half-written file where a user would import it.

Audio goes to a hidden temp file in the destination folder and is renamed
over the destination only when complete; any error or cancel deletes it.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from fractions import Fraction
from typing import Optional

import numpy as np
import soundfile as sf

from plugin_host.process import pid_alive

from ..errors import OutputError, RangeError

SUBTYPES = {"pcm24": "PCM_24", "pcm16": "PCM_16", "float": "FLOAT"}
BYTES_PER_SAMPLE = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4}
#: the default longest output, in seconds of audio (``--max-duration``): six hours, a feature film and then some
DEFAULT_MAX_DURATION = 6 * 3600
#: free space left over after an output is written, so a full disk is refused before the work, not during it
FREE_SPACE_RESERVE = 64 * 1024 * 1024
#: a file name's limit on common file systems (bytes)
NAME_MAX = 255


def check_output_path(path: str, *, inputs: tuple[str, ...] = (), new_folders: bool = False) -> str:
    """Fail early, before any work, if ``path`` cannot be written.

    Outputs go only to new paths or over regular files: a device (``/dev/null``,
    ``/dev/full``), FIFO or socket is refused, never replaced by a WAV.  ``new_folders``
    (the ``foley`` command's ``-o``): missing folders are fine where they can be made
    (:func:`output_folders` makes them when the work starts); the engine never makes any.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; give a file name such as foley.wav")
    if len(os.path.basename(path).encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise OutputError(f"{path}: file name is longer than {NAME_MAX} bytes")
    refuse_special_file(path)
    for src in inputs:
        if os.path.exists(src) and os.path.exists(path) and os.path.samefile(src, path):
            raise OutputError(f"{path}: output would overwrite the input media")
        if os.path.abspath(src) == path:
            raise OutputError(f"{path}: output would overwrite the input media")
    if new_folders:
        folder = _nearest_existing(folder)
        if not os.path.isdir(folder):
            raise OutputError(f"{folder}: not a folder, so the output folder cannot be made in it")
    if not os.path.isdir(folder):
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")
    return path


def _nearest_existing(folder: str) -> str:
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


@contextmanager
def output_folders(*paths: str):
    """Make the missing folders of ``paths`` for a write; if the write fails, remove the ones made
    here that are still empty, so a failed command leaves nothing behind."""
    made = []
    try:
        for path in paths:
            folder = os.path.dirname(os.path.abspath(path))
            missing = []
            while not os.path.exists(folder):
                missing.append(folder)
                folder = os.path.dirname(folder)
            for folder in reversed(missing):
                try:
                    os.mkdir(folder)
                except OSError as exc:
                    raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from None
                made.append(folder)
        yield
    except BaseException:
        for folder in reversed(made):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # something was written there after all: keep it
        raise


def refuse_special_file(path: str) -> None:
    """OutputError unless ``path`` is absent or a regular file (links followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot use as an output ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise OutputError(f"{path}: is {kind}; outputs are written only to regular files or new paths")


def wav_bytes(num_samples: int, channels: int, subtype: str = "PCM_24") -> int:
    """The size of a WAV file holding ``num_samples`` frames (header included)."""
    subtype = SUBTYPES.get(subtype.lower(), subtype.upper())
    return 44 + num_samples * channels * BYTES_PER_SAMPLE.get(subtype, 4)


def positive_seconds(text: str, what: str) -> Fraction:
    """A positive number of seconds in the bounded time grammar; :class:`TimeError` names ``what``."""
    from ..timebase import TimeError, parse_number

    value = parse_number(text, what)
    if value <= 0:
        raise TimeError(f"{what} must be a positive number of seconds")
    return value


def max_duration_arg(text: str) -> Fraction:
    """``--max-duration`` (of ``foley generate`` and ``foley engine serve``) for argparse."""
    import argparse

    from ..timebase import TimeError

    try:
        return positive_seconds(text, "--max-duration")
    except TimeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def default_max_duration() -> Fraction:
    """``$FOLEY_MAX_DURATION`` (seconds) if set, else :data:`DEFAULT_MAX_DURATION`."""
    from ..timebase import TimeError

    text = os.environ.get("FOLEY_MAX_DURATION", "").strip()
    if not text:
        return Fraction(DEFAULT_MAX_DURATION)
    try:
        return positive_seconds(text, "FOLEY_MAX_DURATION")
    except TimeError as exc:
        raise OutputError(str(exc)) from None


def check_output_budget(num_samples: int, sample_rate: int, *, max_duration: Fraction,
                        what: str = "the range") -> None:
    """Refuse an output of no samples, or one longer than ``max_duration`` seconds (by sample count)."""
    if num_samples <= 0:
        raise RangeError(f"{what} rounds to 0 samples at {sample_rate} Hz; nothing to generate "
                         f"(make the range longer, or the speed lower)")
    limit = int(Fraction(max_duration) * sample_rate)
    if num_samples > limit:
        raise OutputError(f"{what} would make {_hms(Fraction(num_samples, sample_rate))} of audio; the limit is "
                          f"{_hms(Fraction(max_duration))} (--max-duration)")


def check_free_space(folder: str, needed: int) -> None:
    """Refuse to start when ``folder``'s file system cannot hold ``needed`` more bytes (and a reserve)."""
    try:
        usage = shutil.disk_usage(_nearest_existing(folder))  # a folder `-o` will make: its parent's disk
    except OSError:
        return  # cannot tell; the write itself reports a full disk
    if usage.total == 0:
        return  # a pseudo file system (sysfs, procfs) reports no size; the write says what is wrong
    free = usage.free
    if needed + FREE_SPACE_RESERVE > free:
        raise OutputError(f"{folder}: not enough free disk space: the output needs {_mib(needed)}, "
                          f"{_mib(free)} free (keeping {_mib(FREE_SPACE_RESERVE)} spare)")


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _hms(t: Fraction) -> str:
    s = int(t)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def partial_prefix(path: str) -> str:
    """The name prefix of ``path``'s temp files, short enough for any output name.

    ``.<name>.`` while that fits in a file name, else the name cut short plus a
    hash of the whole name (so two long names never share partial files).
    """
    name = os.path.basename(path)
    prefix = f".{name}."
    if len(prefix.encode("utf-8", "surrogateescape")) <= 200:
        return prefix
    digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    short = name.encode("utf-8", "surrogateescape")[:150].decode("utf-8", "ignore")
    return f".{short}~{digest}."


def sweep_stale_partials(path: str) -> list[str]:
    """Remove temp files beside ``path`` whose writer process is gone (killed, or SIGKILLed)."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = partial_prefix(path)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
        except OSError:
            pass
    return removed


def remove_own_partials(path: str) -> None:
    """Remove this process's temp files in ``path``'s folder (every output of a set, not just ``path``'s):
    the last word after a SIGTERM, which can land between a temp file's creation and the moment a
    writer owns it (then no ``with`` block removes it).  Partial names carry the writer's pid."""
    folder = os.path.dirname(os.path.abspath(path))
    mine = re.compile(rf"^\..*\.{os.getpid()}\.[A-Za-z0-9_]+\.partial$")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if mine.match(name):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _write_error(path: str, exc: BaseException) -> OutputError:
    """One line for a failed write; a full disk says so, with the path."""
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    if not full:
        try:
            full = shutil.disk_usage(os.path.dirname(path)).free < 1024 * 1024
        except OSError:
            full = False
    if full:
        return OutputError(f"{path}: disk full; nothing was written (free some space and run again)")
    detail = getattr(exc, "strerror", None) or str(exc)
    return OutputError(f"{path}: write failed ({detail})")


_pinned_folders = False


def pin_output_folders() -> None:
    """From now on in this process, an output folder must be its own real path when written.

    The engine resolves a job's folder (links and all) when it accepts the job
    and checks it against ``--output-root`` then; its worker calls this, so a
    folder swapped for a link while the job waited in the queue (or during its
    write) is refused instead of followed outside the root.  The ``foley
    generate`` command does not: a user's own path may well go through a link.
    """
    global _pinned_folders
    _pinned_folders = True


def _folder_identity(folder: str, path: str) -> tuple[int, int]:
    """(device, inode) of ``folder``; OutputError when a pinned folder is no longer its own real path."""
    if _pinned_folders:
        real = os.path.realpath(folder)
        if real != os.path.abspath(folder):
            raise OutputError(f"{path}: its folder now leads to {real} (a link was put in its path after the job "
                              f"was accepted); refusing to write there")
    info = os.stat(folder)
    return info.st_dev, info.st_ino


class AtomicWavWriter:
    """``with AtomicWavWriter(path, 48000, 2) as w: w.write(block)`` — renamed into place on success."""

    def __init__(self, path: str, sample_rate: int, channels: int, subtype: str = "PCM_24", *,
                 finalize: bool = True):
        """``finalize=False``: on success the finished temp file is kept (``partial_path``) instead of
        renamed, for a second pass that writes ``path`` (loudness); :meth:`remove_partial` deletes it.
        It has the writer's pid in its name, so a killed run's copy is swept like any partial."""
        self.path = check_output_path(path)
        self.finalize = finalize
        self.sample_rate = sample_rate
        self.channels = channels
        self.subtype = SUBTYPES.get(subtype.lower(), subtype.upper())
        if self.subtype not in ("PCM_16", "PCM_24", "PCM_32", "FLOAT"):
            raise OutputError(f"unsupported WAV sample format {subtype!r} (use pcm24, pcm16 or float)")
        self.frames_written = 0
        self._file: Optional[sf.SoundFile] = None
        self._tmp: Optional[str] = None
        self._folder_id: Optional[tuple[int, int]] = None

    def open(self) -> "AtomicWavWriter":
        folder, name = os.path.split(self.path)
        try:
            self._folder_id = _folder_identity(folder, self.path)
        except OSError as exc:
            raise OutputError(f"{folder}: cannot write ({exc.strerror or exc})") from None
        sweep_stale_partials(self.path)
        try:
            # The writer's pid is in the name, so a later run can tell a stale partial from a live one.
            fd, self._tmp = tempfile.mkstemp(prefix=f"{partial_prefix(self.path)}{os.getpid()}.", suffix=".partial",
                                             dir=folder)
            os.close(fd)
            self._file = sf.SoundFile(
                self._tmp, "w", samplerate=self.sample_rate, channels=self.channels,
                subtype=self.subtype, format="WAV",
            )
        except OSError as exc:
            self._discard()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _write_error(self.path, exc) from None
            raise OutputError(f"{folder}: cannot write ({exc.strerror or exc})") from None
        except BaseException:
            # A signal while opening (`foley generate` turns SIGTERM/SIGHUP into an exception): the
            # temp file exists but no `with` block owns it yet, so remove it here.
            self._discard()
            raise
        return self

    def write(self, block: np.ndarray) -> None:
        if self._file is None:
            raise RuntimeError("writer is not open")
        # int32 blocks are samples read from a PCM file and go back unchanged (``foley regenerate``
        # copies the untouched part of a file that way, bit for bit); anything else is float audio.
        block = np.asarray(block)
        if block.dtype != np.int32:
            block = block.astype(np.float32, copy=False)
        if block.ndim == 1:
            block = block[:, None]
        if block.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[1]}")
        try:
            clip = self.subtype != "FLOAT" and block.dtype != np.int32
            self._file.write(np.clip(block, -1.0, 1.0) if clip else block)
        except (OSError, sf.SoundFileRuntimeError, sf.LibsndfileError) as exc:
            raise _write_error(self.path, exc) from None
        self.frames_written += block.shape[0]

    def write_pcm(self, codes: np.ndarray) -> None:
        """Write integer sample codes at the file's own depth (a 24-bit file: -2**23 .. 2**23-1)."""
        bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32}[self.subtype]
        block = np.asarray(codes, dtype=np.int64).reshape(-1, self.channels) << (32 - bits)
        try:
            self._file.write(block.astype(np.int32))
        except (OSError, sf.SoundFileRuntimeError, sf.LibsndfileError) as exc:
            raise _write_error(self.path, exc) from None
        self.frames_written += block.shape[0]

    def commit(self) -> str:
        assert self._file is not None and self._tmp is not None
        try:
            self._file.close()  # writes the header sizes: can fail on a full disk too
            self._file = None
            os.chmod(self._tmp, 0o644)
            # Checked again at the last moment: a device or FIFO put there meanwhile is never replaced.
            refuse_special_file(self.path)
            # ... and the folder must be the one the temp file was written in (no link swapped in meanwhile)
            if _folder_identity(os.path.dirname(self.path), self.path) != self._folder_id:
                raise OutputError(f"{self.path}: its folder was replaced while the file was written; "
                                  f"refusing to put it there")
            os.replace(self._tmp, self.path)
        except (OSError, RuntimeError, sf.SoundFileRuntimeError) as exc:
            self._discard()
            raise _write_error(self.path, exc) from None
        except OutputError:
            self._discard()
            raise
        self._tmp = None
        return self.path

    def _discard(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except Exception:
                pass
            self._file = None
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            self._tmp = None

    def __enter__(self) -> "AtomicWavWriter":
        return self.open()

    @property
    def partial_path(self) -> Optional[str]:
        return self._tmp

    def close_partial(self) -> str:
        """Finish the temp file without renaming it into place; its path."""
        assert self._file is not None and self._tmp is not None
        try:
            self._file.close()
        except (OSError, RuntimeError, sf.SoundFileRuntimeError) as exc:
            self._discard()
            raise _write_error(self.path, exc) from None
        self._file = None
        return self._tmp

    def rename_into_place(self) -> str:
        """Rename the finished temp file (:meth:`close_partial`) over the destination."""
        assert self._file is None and self._tmp is not None
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def remove_partial(self) -> None:
        self._discard()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
        elif self.finalize:
            self.commit()
        else:
            self.close_partial()


def commit_together(writers: list) -> list[str]:
    """Rename the open ``writers`` into place as one set: every file is finished (headers written,
    the step that can fail on a full disk) before the first rename, so a failure leaves none of
    them, and a set is never a mix of old and new files short of a crash between renames."""
    try:
        for w in writers:
            w.close_partial()
            os.chmod(w.partial_path, 0o644)
            refuse_special_file(w.path)
    except BaseException:
        for w in writers:
            w.remove_partial()
        raise
    done = []
    for w in writers:
        done.append(w.rename_into_place())
    return done


def pcm_codes(audio: np.ndarray, subtype: str) -> np.ndarray:
    """The integer codes libsndfile writes for float ``audio`` at ``subtype`` (after the writer's clip
    to [-1, 1]): float32 times 2**31, rounded, top bits kept; so codes written with
    :meth:`AtomicWavWriter.write_pcm` read back as a float write of ``audio`` would."""
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32}[subtype]
    x = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * np.float32(2 ** 31)
    return np.clip(np.rint(x).astype(np.int64), -2 ** 31, 2 ** 31 - 1) >> (32 - bits)
