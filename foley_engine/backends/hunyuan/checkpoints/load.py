"""Building each model from a checkpoint: its configuration read from the tensor shapes, then a checked load.

Also the writers of the released layouts (used by the tiny test models and the parity benchmark).
"""
from __future__ import annotations

import math
import os
import re
from typing import Optional

from . import released
from .layout import check_size
from .policy import CheckpointError, unwrap
from .state import load_checked, load_file, read_state


def _depth(state: dict, prefix: str) -> int:
    """Blocks in a stack: highest index + 1, so a gap shows up as missing tensors, not as a shallower model."""
    rx = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = [int(m.group(1)) for k in state if (m := rx.match(k))]
    if not found:
        raise CheckpointError(f"no {prefix}.N.* tensors (the whole stack is missing)")
    return max(found) + 1


def _config_from(read, state: dict, what: str):
    """``read(state)``, with any shape it cannot read said in one line naming ``what`` the file should be."""
    try:
        return read(state)
    except CheckpointError as exc:
        raise CheckpointError(f"not a {what} state dict, or an incomplete one: {exc}") from None
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"not a {what} state dict, or one without a tensor its "
                              f"configuration is read from: {exc} is missing or malformed") from None


def dit_config_from_state(state: dict):
    """The DiT configuration implied by a checkpoint's tensor shapes."""
    return _config_from(_dit_config_from_state, state, "HunyuanVideo-Foley DiT")


def _dit_config_from_state(state: dict):
    from ..models.dit import DiTConfig

    hidden, latent = state["audio_embedder.proj.weight"].shape[:2]
    for config in (DiTConfig.xxl(), DiTConfig.xl()):
        if (hidden, latent) == (config.hidden_size, config.audio_latent_dim):
            # A released width: the released configuration, so that any other shape, or a missing
            # last block, is reported as a mismatch instead of silently building another model.
            return config
    triple, single = _depth(state, "triple_blocks"), _depth(state, "single_blocks")
    head_dim = state["triple_blocks.0.audio_self_q_norm.weight"].shape[0]
    conv_hidden = state["single_blocks.0.linear2.w1.weight"].shape[0]
    base = int(2 * hidden * 4.0 / 3)
    multiple = next((m for m in (256, 128, 64, 32, 16, 8, 4, 2, 1) if m * math.ceil(base / m) == conv_hidden), 256)
    return DiTConfig(
        hidden_size=hidden, num_heads=hidden // head_dim,
        depth_triple_blocks=triple, depth_single_blocks=single,
        audio_latent_dim=latent, text_dim=state["cond_in.linear_1.weight"].shape[1],
        clip_dim=state["visual_proj.w1.weight"].shape[1], sync_dim=state["sync_in.0.weight"].shape[1],
        sync_tokens_per_segment=state["sync_pos_emb"].shape[2],
        sync_in_kernel=state["sync_in.2.w1.weight"].shape[2], conv_mlp_multiple_of=multiple,
    )


def synchformer_config_from_state(state: dict):
    """Synchformer configuration from tensor shapes (heads: one per 64 channels, as released)."""
    return _config_from(_synchformer_config_from_state, state, "Synchformer")


def _synchformer_config_from_state(state: dict):
    from dataclasses import replace

    from ....models.synchformer import SynchformerConfig

    released = SynchformerConfig()
    dim = state["vfeat_extractor.cls_token"].shape[-1]
    # At the released width, the released configuration (any other shape is then a reported mismatch).
    cfg = released if dim == released.embed_dim else _small_synchformer_config(state, dim)
    # The audio branch and the global transformer are training-only and may be absent from a
    # repacked file (the loader then removes them): nothing of them to build.
    if "afeat_extractor.ast.embeddings.position_embeddings" not in state:
        cfg = replace(cfg, audio_depth=0)
    if "transformer.pos_emb_cfg.pos_emb" not in state:
        cfg = replace(cfg, global_depth=0)
    return cfg


def _small_synchformer_config(state: dict, dim: int):
    """A configuration read from the shapes (the tiny test models)."""
    from ....models.synchformer import SynchformerConfig

    tubelet, patch = state["vfeat_extractor.patch_embed_3d.proj.weight"].shape[2:4]
    grid = math.isqrt(state["vfeat_extractor.pos_embed"].shape[1] - 1)
    frames_out = state["vfeat_extractor.temp_embed"].shape[1]
    heads = max(1, dim // 64)
    out = dict(embed_dim=dim, num_heads=heads, depth=_depth(state, "vfeat_extractor.blocks"),
               image_size=grid * patch, patch_size=patch, tubelet=tubelet, segment_frames=frames_out * tubelet,
               audio_heads=heads)
    if "afeat_extractor.ast.embeddings.position_embeddings" in state:
        ast_patch, ast_stride = SynchformerConfig.audio_patch, SynchformerConfig.audio_stride
        audio_tokens = state["afeat_extractor.ast.embeddings.position_embeddings"].shape[1] - 2
        time_tokens = (SynchformerConfig.audio_frames - ast_patch) // ast_stride + 1
        freq_tokens = audio_tokens // time_tokens
        mel_bins = SynchformerConfig.audio_mel_bins
        if (mel_bins - ast_patch) // ast_stride + 1 != freq_tokens:
            mel_bins = (freq_tokens - 1) * ast_stride + ast_patch
        out.update(audio_depth=_depth(state, "afeat_extractor.ast.encoder.layer"), audio_mel_bins=mel_bins)
    if "transformer.pos_emb_cfg.pos_emb" in state:
        out.update(global_depth=_depth(state, "transformer.blocks"),
                   global_positions=state["transformer.pos_emb_cfg.pos_emb"].shape[1],
                   offset_classes=state["transformer.off_head.weight"].shape[0])
    return SynchformerConfig(**out)


def check_dit_size(cfg, size: str, path) -> None:
    """Refuse a file that holds the *other* released size (e.g. XL saved under the XXL name)."""
    from ..models.dit import DiTConfig

    for name, ref in (("xxl", DiTConfig.xxl()), ("xl", DiTConfig.xl())):
        if name != check_size(size) and (cfg.hidden_size, cfg.depth_triple_blocks, cfg.depth_single_blocks) == (
                ref.hidden_size, ref.depth_triple_blocks, ref.depth_single_blocks):
            raise CheckpointError(f"{path} holds the {name.upper()} model, but size {size} was asked for")


#: top-level parts a file may lack as a whole (unused at inference); the loader then removes them
DIT_OPTIONAL: tuple = ()
SYNCHFORMER_OPTIONAL = ("afeat_extractor", "aproj", "vproj", "transformer")
VAE_OPTIONAL = ("encoder", "quant_conv")
#: the released VAE file keeps its tensors under this key, next to ``metadata.kwargs`` (DAC's layout)
VAE_LAYOUT = "state_dict"


def dit_model_for(state: dict, size: Optional[str] = None, path="DiT checkpoint"):
    """The DiT (on the meta device) whose configuration the file's shapes imply.

    ``size`` guards against a file of the *other* released size under this name.
    """
    import torch

    from ..models.dit import HunyuanFoleyDiT

    cfg = dit_config_from_state(state)
    if size is not None:
        check_dit_size(cfg, size, path)
    with torch.device("meta"):
        return HunyuanFoleyDiT(cfg)


def synchformer_model_for(state: dict):
    import torch

    from ....models.synchformer import Synchformer

    cfg = synchformer_config_from_state(state)
    with torch.device("meta"):
        return Synchformer(cfg)


def vae_model_for(blob, path="audio VAE checkpoint"):
    """The VAE (on the meta device) built from the constructor arguments stored in the file."""
    import torch

    from ..models.dac_vae import DACConfig, DACVAE

    kwargs = blob.get("metadata", {}).get("kwargs") if isinstance(blob, dict) else None
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: expected a DAC file {{'state_dict', 'metadata': {{'kwargs'}}}} "
                              f"(the constructor arguments are read from it)")
    try:
        cfg = DACConfig.from_kwargs(kwargs)
        with torch.device("meta"):
            return DACVAE(cfg)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unusable constructor arguments in metadata.kwargs ({exc})") from None


def load_dit(path: os.PathLike, dtype=None, size: Optional[str] = None, check_finite: bool = True):
    """Build the DiT from a checkpoint, its configuration read from the tensor shapes."""
    what = f"DiT checkpoint {path}"
    state, notes = read_state(path, what)
    model = dit_model_for(state, size, path)
    load_checked(model, state, what, DIT_OPTIONAL, notes + released.size_notes(path), check_finite)
    return model.to(dtype) if dtype is not None else model


def load_vae(path: os.PathLike, dtype=None, check_finite: bool = True):
    import torch

    what = f"audio VAE checkpoint {path}"
    blob = load_file(path)
    model = vae_model_for(blob, path)
    state, notes = unwrap(blob, lambda v: isinstance(v, torch.Tensor), what, layout=VAE_LAYOUT)
    load_checked(model, state, what, VAE_OPTIONAL, notes + released.size_notes(path), check_finite)
    return model.to(dtype) if dtype is not None else model


def load_synchformer(path: os.PathLike, dtype=None, check_finite: bool = True):
    what = f"Synchformer checkpoint {path}"
    state, notes = read_state(path, what)
    model = synchformer_model_for(state)
    load_checked(model, state, what, SYNCHFORMER_OPTIONAL, notes + released.size_notes(path), check_finite)
    return model.to(dtype) if dtype is not None else model


def save_dit(model, path: os.PathLike) -> None:
    """Write a DiT in the released layout: a plain state dict."""
    import torch

    torch.save({k: v.detach().contiguous() for k, v in model.state_dict().items()}, path)


save_synchformer = save_dit


def save_vae(model, path: os.PathLike) -> None:
    """Write the VAE in the released DAC layout, constructor kwargs included."""
    import torch

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "metadata": {"kwargs": model.config.to_kwargs()}}, path)
