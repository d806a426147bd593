"""What the neural backends share about where they run: the packages and weights they need (with one
wording for what is missing), whether a CUDA device is there and how much memory it has, and handing
the cache back when a backend lets its models go, and their sampling settings.  torch is imported inside the functions, so a
backend module stays importable without it (``availability`` says what is missing)."""
from __future__ import annotations

from importlib.util import find_spec
from typing import Optional, Sequence, Union

from ..errors import BackendError


def missing_packages(names: Sequence[str]) -> Optional[str]:
    """Why the backend cannot run for lack of one of the packages ``names``, or None."""
    gone = [name for name in names if find_spec(name) is None]
    return f"needs {', '.join(gone)} (pip install 'foley-engine[gpu]')" if gone else None


def missing_weights(folder, gone: Sequence[str], hint: str) -> Optional[str]:
    """Why the backend cannot load when the files ``gone`` are missing from ``folder`` (``hint``: the
    command that fetches them), or None when nothing is missing."""
    return f"no weights found at {folder} (missing {', '.join(gone)}); run `{hint}`" if gone else None


def cuda_memory(dev, device: str, cpu_note: str) -> Union[str, int]:
    """The total memory in bytes of CUDA device ``dev`` (a ``torch.device`` named ``device``), or why
    there is none usable: a one-line reason (``cpu_note`` says what ``--device cpu`` costs)."""
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA for device {device} (this torch build or machine has no usable GPU; --device cpu runs, {cpu_note})"
    index = dev.index or 0
    if index >= torch.cuda.device_count():
        return f"no CUDA device {device}: {torch.cuda.device_count()} visible"
    return int(torch.cuda.get_device_properties(index).total_memory)


def release_gpu_cache() -> None:
    """Give the CUDA cache back after a backend dropped its models (nothing without torch or a GPU)."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def sampling(steps, guidance, default_steps: int, default_guidance: float) -> tuple[int, float]:
    """A diffusion backend's sampling steps and guidance scale, defaults filled in; at least one step."""
    n = int(steps) if steps is not None else default_steps
    if n < 1:
        raise BackendError(f"steps must be at least 1, got {n}")
    return n, float(guidance) if guidance is not None else default_guidance
