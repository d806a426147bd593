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


# --------------------------------------------------------------------------- a tiny models folder

#: the wiring models: a 16 kHz path (vocoder hop 256) with CLIP/Synchformer/text widths of the tiny encoders
WIRING_CLIP = dict(embed_dim=16, quick_gelu=True,
                   vision_cfg=dict(image_size=30, patch_size=14, width=32, layers=1, head_width=16),
                   text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))


def _clip_tokenizer_files(folder) -> None:
    """A CLIP BPE vocabulary without merges: every byte is a token (the real one has 49 408 entries)."""
    import json

    # the byte-level alphabet of GPT-2/CLIP BPE: printable bytes stand for themselves, the rest map past 255
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 49406, "<|endoftext|>": 49407})
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump(vocab, fh)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n")


def make_tiny_models(root, size: str = "small_16k", seed: int = 0):
    """Write tiny random MMAudio components in the released layout into ``<root>/mmaudio``
    (``--models-dir root``); loading reads their configurations from the shapes.  16 kHz sizes only."""
    import json

    from safetensors.torch import save_file

    from foley_engine.backends.mmaudio.checkpoints import save_state
    from foley_engine.backends.mmaudio.files import (
        BIGVGAN_16K_FILE, CLIP_CONFIG, CLIP_DIR, SYNCHFORMER_FILE, mmaudio_dir, mode_of, network_file,
    )
    from foley_engine.backends.mmaudio.models.bigvgan import BigVGAN, BigVGANConfig
    from foley_engine.backends.mmaudio.models.network import MMAudioNetwork, NetworkConfig
    from foley_engine.backends.mmaudio.models.vae import AudioVAE, VAEConfig
    from foley_engine.models.synchformer import Synchformer, SynchformerConfig

    mode = mode_of(size)
    assert mode.name == "16k", "the tiny folder has a 16 kHz vocoder"
    folder = mmaudio_dir(root)
    for sub in ("weights", "ext_weights", CLIP_DIR):
        os.makedirs(folder / sub, exist_ok=True)
    sync_cfg = SynchformerConfig.tiny()
    net = MMAudioNetwork(NetworkConfig(latent_dim=8, clip_dim=WIRING_CLIP["embed_dim"], sync_dim=sync_cfg.embed_dim,
                                       text_dim=WIRING_CLIP["text_cfg"]["width"], num_heads=2, head_dim=16, depth=3,
                                       fused_depth=1, text_seq_len=77))
    fill_model(net, seed)
    save_state(net, folder / network_file(size))
    vae = AudioVAE(VAEConfig(mel_bins=80, latent_dim=8, hidden=16))
    fill_model(vae, seed)
    save_state(vae, folder / mode.vae_file)
    voc = BigVGAN(BigVGANConfig(num_mels=80, upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                                upsample_initial_channel=16, resblock_kernel_sizes=(3,),
                                resblock_dilation_sizes=((1, 3, 5),)))
    fill_model(voc, seed)
    save_state(voc, folder / BIGVGAN_16K_FILE, wrapper="generator")
    sync = Synchformer(sync_cfg)
    fill_model(sync, seed)
    save_state(sync, folder / SYNCHFORMER_FILE)
    clip_state = fill(open_clip_shapes(WIRING_CLIP), seed)
    save_file(clip_state, str(folder / CLIP_DIR / "open_clip_model.safetensors"))
    with open(folder / CLIP_DIR / CLIP_CONFIG, "w", encoding="utf-8") as fh:
        json.dump({"model_cfg": WIRING_CLIP, "preprocess_cfg": {}}, fh)
    _clip_tokenizer_files(folder / CLIP_DIR)
    return folder


def open_clip_shapes(model_cfg: dict) -> dict:
    """Tensor names and shapes of an open_clip ViT CLIP (what its ``open_clip_model.safetensors`` holds);
    checked against open_clip itself by ``test_open_clip_layout`` (the fixture's manifest)."""
    v, t, e = model_cfg["vision_cfg"], model_cfg["text_cfg"], model_cfg["embed_dim"]
    vw, tw = v["width"], t["width"]
    grid = v["image_size"] // v["patch_size"]

    def tower(prefix, width, layers):
        out = {}
        for i in range(layers):
            b = f"{prefix}.resblocks.{i}"
            out.update({f"{b}.ln_1.weight": (width,), f"{b}.ln_1.bias": (width,),
                        f"{b}.attn.in_proj_weight": (3 * width, width), f"{b}.attn.in_proj_bias": (3 * width,),
                        f"{b}.attn.out_proj.weight": (width, width), f"{b}.attn.out_proj.bias": (width,),
                        f"{b}.ln_2.weight": (width,), f"{b}.ln_2.bias": (width,),
                        f"{b}.mlp.c_fc.weight": (4 * width, width), f"{b}.mlp.c_fc.bias": (4 * width,),
                        f"{b}.mlp.c_proj.weight": (width, 4 * width), f"{b}.mlp.c_proj.bias": (width,)})
        return out

    shapes = {"positional_embedding": (t["context_length"], tw), "text_projection": (tw, e), "logit_scale": (),
              "visual.class_embedding": (vw,), "visual.positional_embedding": (grid * grid + 1, vw),
              "visual.proj": (vw, e), "visual.conv1.weight": (vw, 3, v["patch_size"], v["patch_size"]),
              "visual.ln_pre.weight": (vw,), "visual.ln_pre.bias": (vw,), "visual.ln_post.weight": (vw,),
              "visual.ln_post.bias": (vw,), "token_embedding.weight": (t["vocab_size"], tw),
              "ln_final.weight": (tw,), "ln_final.bias": (tw,)}
    shapes.update(tower("visual.transformer", vw, v["layers"]))
    shapes.update(tower("transformer", tw, t["layers"]))
    return shapes
