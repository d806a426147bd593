"""Tiny MMAudio configurations and the deterministic weight recipe shared by the parity tests and the script
that made their reference outputs (``tests/mmaudio_make_fixtures.py``).

Weights are a pure function of (tensor name, shape, seed), so the reference side and our side get the
same values exactly when their tensor names and shapes agree, and nothing but the inputs and outputs needs
storing.  No torch import at module level beyond what the recipe needs.
"""
from __future__ import annotations

import math
import os
import zlib

import torch

DATA = os.path.join(os.path.dirname(__file__), "data", "mmaudio")
FIXTURES = os.path.join(DATA, "reference_tiny.npz")
MANIFESTS = os.path.join(DATA, "manifests.json")

#: tiny sequence lengths: 20 latent frames, 5 CLIP frames (a ratio that is not an integer), 2 sync segments
LATENT_LEN, CLIP_LEN, SYNC_LEN, TEXT_LEN = 20, 5, 16, 7
TINY_NET = dict(latent_dim=8, clip_dim=24, sync_dim=16, text_dim=20, hidden_dim=32, depth=3, fused_depth=1,
                num_heads=2, text_seq_len=TEXT_LEN)
#: the tiny VAE: 80 mel bands (the reference's statistics tables only exist for 80 and 128), narrow
TINY_VAE = dict(data_dim=80, embed_dim=8, hidden_dim=16)
TINY_BIGVGAN = dict(num_mels=80, upsample_rates=[4, 2], upsample_kernel_sizes=[8, 4], upsample_initial_channel=16,
                    resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=[[1, 3, 5], [1, 2, 3]])
TINY_CLIP = dict(embed_dim=16, quick_gelu=True,
                 vision_cfg=dict(image_size=30, patch_size=14, width=32, layers=2, head_width=16),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))

#: tensors kept as constructed (constants of the architecture, saved as buffers)
CONSTANT_SUFFIXES = (".filter",)
#: tensors that must stay positive (standard deviations)
POSITIVE = ("latent_std", "data_std")
#: weight-norm magnitudes: positive and small, so a tiny vocoder's output stays inside (-1, 1), not clipped
MAGNITUDES = ("weight_g",)


def recipe(name: str, shape, seed: int = 0) -> torch.Tensor:
    """A float32 tensor for ``name``: N(0, 1/fan_in) for matrices and kernels, N(0, 0.3) otherwise."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) * 7 + seed)
    shape = tuple(int(s) for s in shape)
    fan_in = math.prod(shape[1:]) if len(shape) >= 2 else 0
    std = 1.0 / math.sqrt(fan_in) if fan_in else (0.02 if name.endswith(".bias") else 0.3)
    t = torch.randn(shape, generator=g, dtype=torch.float32) * std
    if any(name.endswith(p) for p in POSITIVE):
        t = t.abs() + 0.5
    if any(name.endswith(p) for p in MAGNITUDES):
        t = t.abs() * 0.1 + 0.4
    return t


def fill(state_names_shapes: dict, seed: int = 0, constants: dict | None = None) -> dict:
    """name -> tensor for every (name, shape); constants (e.g. filters) are taken from ``constants``."""
    out = {}
    for name, shape in state_names_shapes.items():
        if name.endswith(CONSTANT_SUFFIXES):
            out[name] = constants[name].clone()
        else:
            out[name] = recipe(name, shape, seed)
    return out


def fill_model(model, seed: int = 0) -> dict:
    """The recipe's state for ``model``'s own tensor names (constants from the model); loads it strictly."""
    state = model.state_dict()
    values = fill({k: v.shape for k, v in state.items()}, seed, constants=state)
    model.load_state_dict(values, strict=True)
    return values


def inputs(seed: int = 1, batch: int = 2) -> dict:
    g = torch.Generator().manual_seed(seed)
    n = TINY_NET
    return dict(latent=torch.randn(batch, LATENT_LEN, n["latent_dim"], generator=g),
                clip=torch.randn(batch, CLIP_LEN, n["clip_dim"], generator=g),
                sync=torch.randn(batch, SYNC_LEN, n["sync_dim"], generator=g),
                text=torch.randn(batch, TEXT_LEN, n["text_dim"], generator=g),
                t=torch.rand(batch, generator=g))


def sync_segment() -> torch.Tensor:
    """One full-size Synchformer segment (1, 1, 16, 3, 224, 224) in [-1, 1], from a fixed seed."""
    return torch.rand(1, 1, 16, 3, 224, 224, generator=torch.Generator().manual_seed(8)) * 2 - 1
