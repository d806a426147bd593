"""Reading a checkpoint's tensors safely and loading them into model code under the loading policy.

Every ``.pth`` is read with ``torch.load(weights_only=True)``: tensors and
plain containers only, never arbitrary pickled objects.  Model code is built
on the ``meta`` device and takes the file's tensors directly (``assign``), so
loading needs one copy of the weights in memory.  What the file may differ in
is decided by :mod:`.policy` (missing, mis-shaped, mis-typed or misplaced
tensors are errors that name them; training-only extras and optional parts
are accepted and listed); the final ``load_state_dict`` is always strict.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .policy import CheckpointError, Expected, check, unwrap

log = logging.getLogger("foley_engine.hunyuan")


def load_file(path: os.PathLike) -> dict:
    """Read a checkpoint safely: safetensors, or a torch file with ``weights_only=True``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    check_header(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as load_safetensors

            return load_safetensors(str(path))
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:
            pass  # old (non-zip) files cannot be memory-mapped: try again reading it whole
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects; say why in a line, not a traceback
        raise CheckpointError(f"{path}: {_why_unreadable(path, exc)}") from None


def check_header(path: Path) -> None:
    """Refuse a file whose index ``foley models verify`` would refuse (the same code judges both): a bad
    safetensors header, a torch zip whose data.pkl is a bomb or holds objects.  A legacy (non-zip) torch
    file has no index to read first; torch's ``weights_only`` reader judges it alone."""
    from .index import UnreadableIndex, read_index

    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.suffix == ".safetensors" or magic == b"PK\x03\x04":
        try:
            read_index(path)
        except UnreadableIndex as why:
            raise CheckpointError(f"{path}: refusing to load it: {why}") from None


def check_hf_weights(folder: os.PathLike) -> None:
    """A transformers folder's shard index and safetensors headers, under verify's policy, before transformers reads them."""
    from .index import HF_SHARD_INDEXES, HF_WEIGHTS, UnreadableIndex, shard_names

    folder = Path(folder)
    names = list(HF_WEIGHTS[:1])
    for index_name in HF_SHARD_INDEXES:
        if (folder / index_name).is_file():
            try:
                names = shard_names(folder / index_name)
            except UnreadableIndex as why:
                raise CheckpointError(f"{folder}: refusing to load it: {why}") from None
            break
    for name in names:
        if (folder / name).is_file():
            check_header(folder / name)


def _why_unreadable(path: Path, exc: Exception) -> str:
    """Why torch could not read a file, in the words of its index: cut short, pickled objects, ..."""
    from .index import UnreadableIndex, read_index

    try:
        index = read_index(path)
    except UnreadableIndex as why:
        return f"refusing to load it: {why}"
    if index.truncated:
        return f"incomplete, {index.truncated}; fetch it again (`foley models verify` shows what is there)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"not a plain tensor checkpoint, refusing to unpickle it ({first})"


def read_state(path: os.PathLike, what: str) -> tuple[dict, list[str]]:
    """The flat state dict of a checkpoint, unwrapped, and notes on the unwrapping."""
    import torch

    return unwrap(load_file(path), lambda v: isinstance(v, torch.Tensor), what)


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def expected_of(model, optional: tuple = ()) -> Expected:
    """The tensors ``model`` (built on any device, meta included) defines, for :func:`.policy.check`."""
    tensors = {k: (tuple(v.shape), dtype_name(v.dtype)) for k, v in model.state_dict().items()}
    defined = {name for name, _ in model.named_children()}
    defined |= {name for name, _ in model.named_parameters(recurse=False)}
    defined |= {name for name, _ in model.named_buffers(recurse=False)}
    return Expected(tensors, frozenset(defined), tuple(optional))


def nonfinite(named_tensors, device=None) -> list[str]:
    """Names of the tensors that hold a NaN or an infinity, each checked on ``device`` (default: where it is).

    A float32 sum screens each tensor (any NaN or inf makes the sum non-finite;
    it is ~50x faster than ``isfinite`` on bf16 on a CPU); only a tensor whose
    sum is not finite, which finite values can also cause by overflowing, is
    checked element by element.
    """
    import torch

    bad = []
    for name, t in named_tensors:
        if not t.is_floating_point() or t.device.type == "meta":
            continue
        if device is not None:
            t = t.to(device)
        if not bool(torch.isfinite(t.sum(dtype=torch.float32))) and not bool(torch.isfinite(t).all()):
            bad.append(name)
    return bad


def require_finite(model, what: str, device=None) -> None:
    bad = nonfinite(model.state_dict().items(), device)
    if bad:
        raise CheckpointError(f"{what}: {len(bad)} tensors hold NaN or infinite values: {', '.join(bad[:8])}"
                              + (f" (+{len(bad) - 8} more)" if len(bad) > 8 else ""))


def load_checked(model, state: dict, what: str, optional: tuple = (), notes: tuple = (), check_finite: bool = True):
    """Load ``state`` into ``model`` under the loading policy, or raise naming every offending tensor.

    Optional parts the file lacks are removed from the model (never left
    uninitialised); accepted extras are dropped and listed; the final load is
    strict.  ``check_finite=False`` leaves the NaN/inf check to the caller
    (the pipeline runs it on the GPU, where it is nearly free).
    """
    found = {k: (tuple(v.shape), dtype_name(v.dtype)) for k, v in state.items()}
    verdict = check(expected_of(model, optional), found, what)
    verdict.notes.extend(notes)
    verdict.raise_if_bad()
    for part in verdict.absent:
        delattr(model, part)
    extras = set(verdict.extras)
    model.load_state_dict({k: v for k, v in state.items() if k not in extras}, strict=True, assign=True)
    if check_finite:
        require_finite(model, what)
    model.load_notices = verdict.notices()
    for line in model.load_notices:
        log.warning("%s: %s", what, line)
    return model.eval()  # loaded for inference (also picks the same attention kernels as the pipeline)
