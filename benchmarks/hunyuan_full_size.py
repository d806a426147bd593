"""The released components at full size with random weights, built directly on a device (no downloads).

Shared by the GPU benchmarks (``hunyuan_gpu.py``, ``hunyuan_plans.py``).  Random
weights give noise, not Foley; shapes, dtypes and sequence lengths are the real
model's, so timings and memory are too.  The VAE uses the assumed default
geometry of :class:`DACConfig` (hop 960 at 48 kHz).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the tokenizer of the tiny models

import torch  # noqa: E402

from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT  # noqa: E402
from foley_engine.backends.hunyuan.models.encoders import ClapTextEncoder, SiglipVisionEncoder  # noqa: E402
from foley_engine.models.synchformer import Synchformer  # noqa: E402
from hunyuan_tiny import _tokenizer  # noqa: E402


def _random_(model: torch.nn.Module, std: float = 0.02) -> torch.nn.Module:
    """Random values in place, on whatever device the model lives (fast on a GPU)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("weight_g", "alpha")) or ("norm" in name and p.dim() == 1 and name.endswith("weight")):
                p.fill_(1.0)
            else:
                p.normal_(0.0, std)
    return model


def _materialise(build, device, dtype) -> torch.nn.Module:
    """Build on the meta device, then allocate once, in the final dtype, on the target device."""
    with torch.device("meta"):
        model = build()
    return _random_(model.to(dtype).to_empty(device=device))


def full_size_components(size: str, home) -> tuple:
    """(DiT bf16, VAE, Synchformer, SigLIP2 encoder, CLAP encoder) at the released sizes, random weights, on ``home``."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SiglipConfig, SiglipModel

    cfg = DiTConfig.xxl() if size == "xxl" else DiTConfig.xl()
    dit = _materialise(lambda: HunyuanFoleyDiT(cfg), home, torch.bfloat16)
    vae = _materialise(lambda: DACVAE(DACConfig()), home, torch.float32)
    sync = _materialise(lambda: Synchformer(), home, torch.float32)
    # google/siglip2-base-patch16-512 and laion/larger_clap_general (text tower) geometry.
    siglip_cfg = SiglipConfig(
        text_config=dict(vocab_size=256000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=64),
        vision_config=dict(image_size=512, patch_size=16, hidden_size=768, intermediate_size=3072,
                           num_hidden_layers=12, num_attention_heads=12))
    clap_cfg = ClapTextConfig(vocab_size=50265, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=514, projection_dim=512, pad_token_id=1)
    with torch.device(home):
        siglip = SiglipModel(siglip_cfg)
        clap = ClapTextModelWithProjection(clap_cfg)
    return dit, vae, sync, SiglipVisionEncoder(siglip), ClapTextEncoder(clap, _tokenizer())
