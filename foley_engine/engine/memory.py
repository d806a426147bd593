"""Process memory without psutil: /proc on Linux, getrusage elsewhere."""
from __future__ import annotations

import os
import sys
from typing import Optional


def process_rss(pid: Optional[int] = None) -> Optional[int]:
    """Resident set size in bytes (current on Linux; peak elsewhere); None if unknown."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    if pid != os.getpid():
        return None
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def process_peak_rss(pid: Optional[int] = None) -> Optional[int]:
    """Peak resident set size in bytes (Linux ``VmHWM``); None if unknown."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_cpu_seconds(pid: Optional[int] = None) -> Optional[float]:
    """User + system CPU time of a process (all its threads); None if unknown."""
    if pid is None or pid == os.getpid():
        try:
            import resource
        except ImportError:
            return None
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def gpu_memory() -> Optional[dict]:
    """CUDA memory of this process, when torch is already loaded and a GPU is present."""
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    device = torch.cuda.current_device()
    free, total = torch.cuda.mem_get_info(device)
    return {
        "device": f"cuda:{device}",
        "allocated": torch.cuda.memory_allocated(device),
        "reserved": torch.cuda.memory_reserved(device),
        "free": free,
        "total": total,
    }


def process_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (SIGSTOP, a debugger): it holds its job but cannot move it on.

    Linux only (/proc/<pid>/stat, state T or t); False where that cannot be read.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False
