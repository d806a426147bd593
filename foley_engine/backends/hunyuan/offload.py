"""Offloading: what lives in GPU memory, and block streaming for the DiT.

Three modes (``--offload``):

* ``none``: every component stays on the device;
* ``model``: each component (encoders, DiT, VAE) moves to the device only
  while it works, then back to CPU memory;
* ``blocks[:N]``: the DiT's embedders, final layer and its first N blocks
  (in execution order) stay on the device; the other blocks live in pinned
  CPU memory and are streamed in for every step, the next block's copy
  running on a side CUDA stream while the current block computes, so at most
  two streamed blocks are on the device at once.  The encoders and the VAE
  run once per window and leave the device, as with ``model``.

The streaming logic (:class:`BlockStreamer`) is independent of CUDA: a
:class:`Transfer` moves a block's tensors.  :class:`CudaTransfer` does it
with pinned memory and a side stream; :class:`CopyTransfer` copies on any
device (on a CPU it makes the streamed run bit-identical to a resident one,
which the tests check, counting transfers and their order).
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

from ...errors import BackendError

if TYPE_CHECKING:
    from torch import nn

# torch is imported where it is used: the backend reads Offload and parse_offload without torch.

MODES = ("none", "model", "blocks")
_BLOCKS = re.compile(r"blocks(?::(\d+))?")


@dataclass(frozen=True)
class Offload:
    mode: str = "none"
    #: blocks kept resident on the device (``blocks`` mode)
    resident: int = 0

    def __str__(self) -> str:
        return f"blocks:{self.resident}" if self.mode == "blocks" else self.mode

    @property
    def parts_offloaded(self) -> bool:
        """Whether the encoders and the VAE leave the device between their stages."""
        return self.mode != "none"


def parse_offload(value: Union[None, bool, str, Offload]) -> Offload:
    """``none`` / ``model`` / ``blocks`` / ``blocks:N``; True (the old switch, and ``--option offload=true``) is
    ``model``, False and None are ``none``."""
    if isinstance(value, Offload):
        return value
    if value is None or value is False:
        return Offload()
    if value is True:
        return Offload("model")
    text = str(value).strip().lower()
    if text in ("", "none", "off", "false", "0", "no"):
        return Offload()
    if text in ("model", "true", "1", "yes", "on"):
        return Offload("model")
    match = _BLOCKS.fullmatch(text)
    if match:
        return Offload("blocks", int(match.group(1) or 0))
    raise BackendError(f"--offload must be none, model, blocks or blocks:N (N blocks kept on the GPU), got {value!r}")


def execution_order(dit: nn.Module) -> list:
    """The DiT's blocks in the order its forward runs them."""
    return list(dit.triple_blocks) + list(dit.single_blocks)


# --------------------------------------------------------------------------- moving a block


class Transfer(abc.ABC):
    """Moves one block's tensors between their CPU home and the device."""

    def prepare(self, block: nn.Module) -> None:
        """Make the block's CPU copy its home (pinned where that helps)."""

    @abc.abstractmethod
    def fetch(self, block: nn.Module):
        """Start copying the block to the device; returns what :meth:`wait` needs."""

    @abc.abstractmethod
    def wait(self, block: nn.Module, pending) -> None:
        """Block until the copy has landed and point the block's parameters at it."""

    @abc.abstractmethod
    def release(self, block: nn.Module) -> None:
        """Point the block's parameters back at their CPU home (the device copy is freed)."""


class CopyTransfer(Transfer):
    """Synchronous copies (``Tensor.to`` + ``clone``): any device, including the CPU."""

    def __init__(self, device):
        import torch

        self.device = torch.device(device)
        self.home: dict = {}

    def prepare(self, block):
        for p in block.parameters():
            self.home[id(p)] = p.data

    def fetch(self, block):
        return [(p, self.home[id(p)].to(self.device, copy=True)) for p in block.parameters()]

    def wait(self, block, pending):
        for p, data in pending:
            p.data = data

    def release(self, block):
        for p in block.parameters():
            p.data = self.home[id(p)]


class CudaTransfer(CopyTransfer):
    """Copies from pinned CPU memory on a side CUDA stream; the compute stream waits on an event."""

    def __init__(self, device):
        import torch

        super().__init__(device)
        self.stream = torch.cuda.Stream(self.device)

    def prepare(self, block):
        for p in block.parameters():
            self.home[id(p)] = p.data.cpu().pin_memory()
            p.data = self.home[id(p)]

    def fetch(self, block):
        import torch

        compute = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(compute)  # the copy must not overtake work queued before it
        with torch.cuda.stream(self.stream):
            pending = [(p, self.home[id(p)].to(self.device, non_blocking=True)) for p in block.parameters()]
            event = torch.cuda.Event()
            event.record(self.stream)
        return pending, event

    def wait(self, block, pending):
        import torch

        copies, event = pending
        compute = torch.cuda.current_stream(self.device)
        compute.wait_event(event)
        for p, data in copies:
            # Allocated on the side stream, used on the compute stream: the allocator must not hand the
            # memory out again before the compute stream is done with it.
            data.record_stream(compute)
            p.data = data


def transfer_for(device) -> Transfer:
    import torch

    device = torch.device(device)
    return CudaTransfer(device) if device.type == "cuda" else CopyTransfer(device)


# --------------------------------------------------------------------------- streaming


class BlockStreamer:
    """Keeps ``resident`` blocks on the device and streams the rest through forward hooks.

    Before block i runs: wait for its copy (fetching it now if nothing
    prefetched it), then start fetching the next streamed block in execution
    order (wrapping round to the first one, for the next step).  After block
    i runs: release it.  :meth:`finish` drops a prefetch nobody will use.
    """

    def __init__(self, blocks: list, device, resident: int, transfer: Optional[Transfer] = None):
        if resident < 0:
            raise BackendError(f"blocks kept on the GPU must be 0 or more, got {resident}")
        import torch

        self.blocks = list(blocks)
        self.device = torch.device(device)
        self.resident = min(resident, len(self.blocks))
        self.transfer = transfer or transfer_for(device)
        self.streamed = list(range(self.resident, len(self.blocks)))
        self.pending: dict[int, object] = {}
        self._hooks = []

    def attach(self) -> "BlockStreamer":
        for i, block in enumerate(self.blocks):
            if i < self.resident:
                block.to(self.device)
                continue
            block.to("cpu")
            self.transfer.prepare(block)
            self._hooks.append(block.register_forward_pre_hook(self._before(i)))
            self._hooks.append(block.register_forward_hook(self._after(i)))
        return self

    def detach(self) -> None:
        """Remove the hooks; streamed blocks stay in CPU memory."""
        self.finish()
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _next_streamed(self, i: int) -> Optional[int]:
        later = [j for j in self.streamed if j > i]
        following = later[0] if later else (self.streamed[0] if self.streamed else None)
        return None if following == i else following

    def _start(self, j: Optional[int]) -> None:
        if j is not None and j not in self.pending:
            self.pending[j] = self.transfer.fetch(self.blocks[j])

    def _before(self, i: int):
        def hook(module, args):
            self._start(i)  # nothing prefetched it (the first streamed block of the first step)
            self.transfer.wait(module, self.pending.pop(i))
            self._start(self._next_streamed(i))
        return hook

    def _after(self, i: int):
        def hook(module, args, output):
            self.transfer.release(module)
        return hook

    def finish(self) -> None:
        """Release blocks fetched ahead for a step that will not come (end of sampling)."""
        for j, pending in list(self.pending.items()):
            self.transfer.wait(self.blocks[j], pending)
            self.transfer.release(self.blocks[j])
        self.pending.clear()


def place_dit(dit: nn.Module, device, offload: Offload, transfer: Optional[Transfer] = None) -> Optional[BlockStreamer]:
    """Put the DiT where ``offload`` says; in ``blocks`` mode returns the attached streamer."""
    from torch import nn

    if offload.mode != "blocks":
        dit.to("cpu" if offload.mode == "model" else device)
        return None
    blocks = execution_order(dit)
    streamed = {id(b) for b in blocks}
    for module in dit.children():  # everything but the block stacks stays on the device
        if not isinstance(module, nn.ModuleList) or not all(id(b) in streamed for b in module):
            module.to(device)
    for name, p in dit.named_parameters(recurse=False):
        p.data = p.data.to(device)
    return BlockStreamer(blocks, device, offload.resident, transfer).attach()
