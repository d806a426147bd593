"""WAV writing that never leaves a half-written file where a user would import it.

Audio goes to a hidden temp file in the destination folder and is renamed
over the destination only when complete; any error or cancel deletes it.
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import numpy as np
import soundfile as sf

from ..errors import OutputError

SUBTYPES = {"pcm24": "PCM_24", "pcm16": "PCM_16", "float": "FLOAT"}


def check_output_path(path: str, *, inputs: tuple[str, ...] = ()) -> str:
    """Fail early, before any work, if ``path`` cannot be written."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; give a file name such as foley.wav")
    for src in inputs:
        if os.path.exists(src) and os.path.exists(path) and os.path.samefile(src, path):
            raise OutputError(f"{path}: output would overwrite the input media")
        if os.path.abspath(src) == path:
            raise OutputError(f"{path}: output would overwrite the input media")
    if not os.path.isdir(folder):
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")
    return path


class AtomicWavWriter:
    """``with AtomicWavWriter(path, 48000, 2) as w: w.write(block)`` — renamed into place on success."""

    def __init__(self, path: str, sample_rate: int, channels: int, subtype: str = "PCM_24"):
        self.path = check_output_path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.subtype = SUBTYPES.get(subtype.lower(), subtype.upper())
        if self.subtype not in ("PCM_16", "PCM_24", "PCM_32", "FLOAT"):
            raise OutputError(f"unsupported WAV sample format {subtype!r} (use pcm24, pcm16 or float)")
        self.frames_written = 0
        self._file: Optional[sf.SoundFile] = None
        self._tmp: Optional[str] = None

    def open(self) -> "AtomicWavWriter":
        folder, name = os.path.split(self.path)
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
            os.close(fd)
            self._file = sf.SoundFile(
                self._tmp, "w", samplerate=self.sample_rate, channels=self.channels,
                subtype=self.subtype, format="WAV",
            )
        except OSError as exc:
            self._discard()
            raise OutputError(f"{folder}: cannot write ({exc.strerror or exc})") from None
        return self

    def write(self, block: np.ndarray) -> None:
        if self._file is None:
            raise RuntimeError("writer is not open")
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        if block.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[1]}")
        try:
            self._file.write(np.clip(block, -1.0, 1.0) if self.subtype != "FLOAT" else block)
        except (OSError, sf.SoundFileRuntimeError) as exc:
            raise OutputError(f"{self.path}: write failed ({exc})") from None
        self.frames_written += block.shape[0]

    def commit(self) -> str:
        assert self._file is not None and self._tmp is not None
        self._file.close()
        self._file = None
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
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

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._discard()
