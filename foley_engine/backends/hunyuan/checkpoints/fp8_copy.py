"""The DiT with float8 weights: quantised from the released bf16 file at load time, or read from a copy.

Quantising XXL on a CPU takes a while (every block weight is read, scaled and
rounded), so the first ``--weights fp8`` load writes the result next to the
released file (``layout.FP8_FILES``, safetensors: names and shapes as
released, plus one ``*.weight_scale`` per quantised weight) and later loads
read that.  The copy records which released file it came from (bytes and
modification time) and its scale granularity; a copy that does not match is
ignored (and rewritten), never trusted.  ``foley models verify`` checks it
like the released files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from .layout import DIT_FILES, FP8_FILES, check_size
from .load import DIT_OPTIONAL, dit_model_for, load_dit
from .policy import CheckpointError
from .state import load_checked, read_state

#: metadata keys of a copy (safetensors ``__metadata__``: strings only)
SOURCE_NAME, SOURCE_BYTES, SOURCE_MTIME, GRANULARITY = "source", "source_bytes", "source_mtime_ns", "granularity"


def granularity_of(state: dict) -> str:
    """``tensor`` or ``channel``: read from the shape of the first scale in a state dict or index."""
    from ..models.fp8 import SCALE_SUFFIX

    for name, value in state.items():
        if name.endswith(SCALE_SUFFIX):
            return "tensor" if len(tuple(value.shape)) == 0 else "channel"
    raise CheckpointError(f"no *.{SCALE_SUFFIX} tensors: not a float8 copy of the DiT")


def fp8_model_for(state: dict, size: Optional[str] = None, path="float8 DiT copy"):
    """The float8 DiT (meta device) a copy's shapes imply: the bf16 model, its block layers quantised."""
    from ..models.fp8 import quantize_blocks

    return quantize_blocks(dit_model_for(state, size, path), granularity_of(state))


def source_stamp(source: Path) -> dict:
    stat = source.stat()
    return {SOURCE_NAME: source.name, SOURCE_BYTES: str(stat.st_size), SOURCE_MTIME: str(stat.st_mtime_ns)}


def copy_is_current(copy: Path, source: Path, granularity: str) -> bool:
    """Whether ``copy`` was written from ``source`` as it is now, with these scales."""
    from safetensors import safe_open

    if not copy.is_file():
        return False
    try:
        with safe_open(str(copy), "pt") as fh:
            meta = fh.metadata() or {}
    except Exception:  # unreadable header: not current (it is rewritten)
        return False
    want = source_stamp(source) if source.is_file() else {SOURCE_NAME: source.name}
    return meta.get(GRANULARITY) == granularity and all(meta.get(k) == v for k, v in want.items())


def write_copy(model, copy: Path, source: Path) -> None:
    """Save a float8 DiT as safetensors, atomically (a temp file renamed: never a half-written copy)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {**source_stamp(source), GRANULARITY: model.weights.removeprefix("fp8-")}
    tmp = copy.with_name(copy.name + ".partial")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, copy)


def load_fp8_dit(folder: os.PathLike, size: str, dtype, granularity: Optional[str] = None, write: bool = True,
                 check_finite: bool = True, log: Callable[[str], None] = lambda line: None):
    """The DiT with float8 block weights and everything else in ``dtype``.

    Reads the copy when it is current; otherwise quantises the released file
    and (``write``) saves the copy for next time.  ``model.load_notices``
    says which happened.
    """
    from ..models.fp8 import DEFAULT_GRANULARITY, quantize_blocks

    size = check_size(size)
    granularity = granularity or DEFAULT_GRANULARITY
    folder = Path(folder)
    source, copy = folder / DIT_FILES[size], folder / FP8_FILES[size]
    if copy_is_current(copy, source, granularity):
        what = f"float8 DiT copy {copy}"
        state, notes = read_state(copy, what)
        model = fp8_model_for(state, size, copy)
        load_checked(model, state, what, DIT_OPTIONAL, notes, check_finite)
        cast_unquantised(model, dtype)
        model.load_notices.append(f"DiT weights: float8 ({granularity} scales) from {copy.name}")
        return model
    log(f"quantising {source.name} to float8 ({granularity} scales) ...")
    model = quantize_blocks(load_dit(source, None, size=size, check_finite=check_finite), granularity)
    notices = list(getattr(model, "load_notices", []))
    if write:
        try:
            write_copy(model, copy, source)
            notices.append(f"DiT weights: float8 ({granularity} scales), quantised from {source.name}; "
                           f"saved {copy.name} for faster loads")
        except OSError as exc:  # a read-only models folder: works, only slower next time
            notices.append(f"DiT weights: float8, quantised at load; could not save {copy.name} ({exc.strerror})")
    else:
        notices.append(f"DiT weights: float8 ({granularity} scales), quantised from {source.name} at load")
    cast_unquantised(model, dtype)
    model.load_notices = notices
    return model


def cast_unquantised(model, dtype) -> None:
    """``model.to(dtype)`` for every floating tensor except the float8 weights (and their float32 scales)."""
    if dtype is None:
        return
    from ..models.fp8 import Fp8Weight

    keep = {id(m.weight) for m in model.modules() if isinstance(m, Fp8Weight)}
    keep |= {id(m.weight_scale) for m in model.modules() if isinstance(m, Fp8Weight)}
    for p in model.parameters():
        if id(p) not in keep and p.is_floating_point() and p.dtype != dtype:
            p.data = p.data.to(dtype)
