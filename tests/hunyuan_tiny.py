"""Tiny random HunyuanVideo-Foley models in the released file layout.

Same code paths as the real model (file formats, strict loading, the
transformers folders, sampling, decoding) at a size that runs on a CPU in
well under a second per window.  Used by the tests and by the GPU
benchmark's dry run; the output is noise-like audio, not Foley.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from foley_engine.backends.hunyuan.checkpoints.layout import (
    CLAP_DIR, DIT_FILES, SIGLIP_DIR, SYNCHFORMER_FILE, VAE_FILE, check_size, hunyuan_dir,
)
from foley_engine.backends.hunyuan.checkpoints.load import save_dit, save_synchformer, save_vae
from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT
from foley_engine.models.synchformer import Synchformer, SynchformerConfig

_WORDS = ("a the of on in and with footsteps wooden floor door slams glass breaks rain wind car engine dog barks "
          "water splash metal clank noisy harsh birds crowd applause fire crackling gravel knock paper").split()


def randomize(model: torch.nn.Module, seed: int, std: float = 0.05) -> torch.nn.Module:
    """Give every parameter a random value (zero-initialised layers would hide bugs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("weight_g", "alpha")) or "norm" in name and p.dim() == 1 and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model


def _tokenizer(max_length: int = 77):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_max_length=max_length)


def make_tiny_models(root: os.PathLike, size: str = "xxl", seed: int = 0) -> Path:
    """Write tiny random components into ``<root>/hunyuan`` (as ``--models-dir root``) and return that folder."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SiglipConfig, SiglipModel

    folder = hunyuan_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    dit_cfg = DiTConfig.tiny()
    torch.manual_seed(seed)
    save_dit(randomize(HunyuanFoleyDiT(dit_cfg), seed), folder / DIT_FILES[check_size(size)])
    save_vae(randomize(DACVAE(DACConfig.tiny()), seed + 1), folder / VAE_FILE)
    save_synchformer(randomize(Synchformer(SynchformerConfig.tiny()), seed + 2), folder / SYNCHFORMER_FILE)

    siglip = SiglipModel(SiglipConfig(
        text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=2,
                         pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=16, hidden_size=dit_cfg.clip_dim, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=2),
    ))
    siglip.save_pretrained(folder / SIGLIP_DIR)
    tokenizer = _tokenizer()
    clap = ClapTextModelWithProjection(ClapTextConfig(
        vocab_size=len(tokenizer), hidden_size=dit_cfg.text_dim, intermediate_size=48, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=100, projection_dim=8, pad_token_id=1,
    ))
    clap.save_pretrained(folder / CLAP_DIR)
    tokenizer.save_pretrained(folder / CLAP_DIR)
    return folder
