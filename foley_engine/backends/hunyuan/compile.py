"""``--compile``: ``torch.compile`` of each DiT block's forward.

Each block's ``forward`` is compiled, not the module call: forward hooks (the
block streamer of ``--offload blocks``) stay in eager Python, outside the
graph, and all blocks of one kind share one compiled graph (same code, same
shapes).  Inductor keeps compiled kernels in its on-disk cache, so a second
process starts faster.  Off by default: the speed-up is not measured here yet
(docs/hunyuan.md).
"""
from __future__ import annotations


def compile_blocks(dit, backend: str = "inductor", dynamic: bool = False):
    """Compile every triple- and single-stream block's forward in place; returns the DiT."""
    import torch

    for block in list(dit.triple_blocks) + list(dit.single_blocks):
        block.forward = torch.compile(block.forward, backend=backend, dynamic=dynamic)
    dit.compiled = backend
    return dit
