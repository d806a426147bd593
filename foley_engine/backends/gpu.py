"""What the neural backends share about the GPU: whether a CUDA device is there, how much memory it
has, and handing the cache back when a backend lets its models go.  torch is imported inside the
functions, so a backend module stays importable without it (``availability`` says what is missing)."""
from __future__ import annotations

from typing import Union


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
