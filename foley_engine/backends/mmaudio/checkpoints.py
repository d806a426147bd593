"""Building each MMAudio model from its released file, under the same loading policy as the hunyuan backend.

Reading is shared with :mod:`..hunyuan.checkpoints` (one policy for every neural backend): ``.pth``
files with ``torch.load(weights_only=True)``, safetensors natively; models built on the meta device and
given the file's tensors (``assign``); missing, mis-shaped or mis-typed tensors are errors that name
them; the final load is strict.  Accepted differences, documented in docs/mmaudio.md:

* the VAE file's encoder may be absent (only the decoder generates); the Synchformer file's
  training-only parts may be absent (as for hunyuan);
* BigVGAN files keep their tensors under ``generator``; weight normalisation may be saved as
  ``weight_g``/``weight_v`` (released) or as ``parametrizations.weight.original0/1`` (newer torch):
  the latter is renamed to the former;
* the network file's ``t_embed.freqs``, ``latent_rot`` and ``clip_rot`` (buffers some training
  versions saved; recomputed here) are dropped.

The configuration of each model comes from the released size (so any other shape is reported as a
mismatch), or, for a file of no released width (the tiny test models), from its tensor shapes.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Optional

from ..hunyuan.checkpoints.load import load_synchformer  # noqa: F401  (one Synchformer loader for both backends)
from ..hunyuan.checkpoints.policy import CheckpointError, unwrap
from ..hunyuan.checkpoints.state import dtype_name, expected_of, load_checked, load_file
from .files import CLIP_WEIGHTS, SIZES

#: buffers some network files carry that the model recomputes
NETWORK_DROPPED = ("t_embed.freqs", "latent_rot", "clip_rot")
VAE_OPTIONAL = ("encoder",)
BIGVGAN_WRAPPER = "generator"
_PARAMETRIZED = re.compile(r"^(.*)\.parametrizations\.weight\.original([01])$")


def _is_tensor(v) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def _count(state: dict, prefix: str) -> int:
    rx = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = [int(m.group(1)) for k in state if (m := rx.match(k))]
    return max(found) + 1 if found else 0


def _shape(entry) -> tuple:
    return tuple(entry.shape)


# --------------------------------------------------------------------------- configurations from shapes


def network_config_for(state: dict, size: Optional[str] = None):
    """The released configuration of ``size`` when the file has a released width (so any other shape is
    reported as a mismatch; a file of another released size is refused by name); otherwise (the tiny test
    models) the configuration the tensor shapes imply."""
    from .models.network import NetworkConfig

    try:
        hidden, latent = _shape(state["audio_input_proj.0.weight"])[:2]
        head_dim = _shape(state["joint_blocks.0.latent_block.attn.q_norm.weight"])[0]
        joint, fused = _count(state, "joint_blocks"), _count(state, "fused_blocks")
        shaped = NetworkConfig(
            latent_dim=latent, clip_dim=_shape(state["clip_input_proj.0.weight"])[1],
            sync_dim=_shape(state["sync_input_proj.0.weight"])[1], text_dim=_shape(state["text_input_proj.0.weight"])[1],
            num_heads=hidden // head_dim, head_dim=head_dim, depth=joint + fused, fused_depth=fused,
            text_seq_len=_shape(state["empty_string_feat"])[0], v2="clip_input_proj.2.w1.weight" in state)
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"not an MMAudio network state dict ({exc} is missing or malformed)") from None
    if size is None:
        return shaped
    asked = NetworkConfig.released(size)
    for name in SIZES:
        ref = NetworkConfig.released(name)
        if name != size and (ref.hidden_dim, ref.depth, ref.latent_dim, ref.v2) == (
                shaped.hidden_dim, shaped.depth, shaped.latent_dim, shaped.v2):
            raise CheckpointError(f"the file holds the {name} network, but size {size} was asked for")
    return asked if shaped.hidden_dim == asked.hidden_dim else shaped


def vae_config_for(state: dict, mode: Optional[str] = None):
    """The released VAE of ``mode`` at a released width; otherwise the configuration the shapes imply."""
    from .models.vae import VAEConfig

    try:
        mel, hidden = _shape(state["decoder.conv_out.weight"])[:2]
        shaped = VAEConfig(mel_bins=mel, latent_dim=_shape(state["decoder.conv_in.weight"])[1], hidden=hidden)
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"not an MMAudio VAE state dict ({exc} is missing or malformed)") from None
    if mode is None:
        return shaped
    released = VAEConfig.released(mode)
    return released if hidden == released.hidden else shaped


def bigvgan_config_from_shapes(state: dict):
    """A BigVGAN configuration read from tensor shapes (tiny test vocoders): strides are half the
    transposed kernels and every AMP block has dilations (1, 3, 5), as in all released BigVGANs."""
    from .models.bigvgan import BigVGANConfig

    try:
        ch, mels = _shape(state["conv_pre.weight_v"])[:2]
        ups = _count(state, "ups")
        kernels = tuple(_shape(state[f"ups.{i}.0.weight_v"])[2] for i in range(ups))
        kinds = _count(state, "resblocks") // max(ups, 1)
        res_kernels = tuple(_shape(state[f"resblocks.{j}.convs1.0.weight_v"])[2] for j in range(kinds))
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"not a BigVGAN state dict ({exc} is missing or malformed)") from None
    return BigVGANConfig(num_mels=mels, upsample_rates=tuple(k // 2 for k in kernels), upsample_kernel_sizes=kernels,
                         upsample_initial_channel=ch, resblock_kernel_sizes=res_kernels,
                         resblock_dilation_sizes=tuple((1, 3, 5) for _ in res_kernels),
                         use_bias_at_final="conv_post.bias" in state)


def rename_weight_norm(state: dict) -> tuple[dict, list[str]]:
    """``x.parametrizations.weight.original0/1`` -> ``x.weight_g/weight_v`` (the released layout)."""
    out, renamed = {}, 0
    for name, value in state.items():
        m = _PARAMETRIZED.match(name)
        if m:
            name = f"{m.group(1)}.weight_{'g' if m.group(2) == '0' else 'v'}"
            renamed += 1
        out[name] = value
    return out, ([f"{renamed} weight-norm tensors renamed from torch's parametrization names"] if renamed else [])


def unwrap_bigvgan(root, what: str, is_tensor=_is_tensor) -> tuple[dict, list[str]]:
    if isinstance(root, dict) and isinstance(root.get(BIGVGAN_WRAPPER), dict):
        root = root[BIGVGAN_WRAPPER]
    state, notes = unwrap(root, is_tensor, what)
    state, more = rename_weight_norm(state)
    return state, notes + more


def drop_network_buffers(state: dict) -> tuple[dict, list[str]]:
    dropped = [k for k in NETWORK_DROPPED if k in state]
    state = {k: v for k, v in state.items() if k not in NETWORK_DROPPED}
    return state, ([f"dropped recomputed buffers {', '.join(dropped)}"] if dropped else [])


# --------------------------------------------------------------------------- models on the meta device


def network_model_for(state: dict, size: Optional[str] = None):
    import torch

    from .models.network import MMAudioNetwork

    with torch.device("meta"):
        return MMAudioNetwork(network_config_for(state, size))


def vae_model_for(state: dict, mode: Optional[str] = None):
    import torch

    from .models.vae import AudioVAE

    with torch.device("meta"):
        return AudioVAE(vae_config_for(state, mode))


def bigvgan_model_for(config):
    import torch

    from .models.bigvgan import BigVGAN

    with torch.device("meta"):
        return BigVGAN(config)  # the anti-aliasing filters are saved buffers: loaded from the file too


def bigvgan_config_for(folder_or_file: Path, mode: str, state: Optional[dict] = None):
    """44.1 kHz: the ``config.json`` next to the weights.  16 kHz: the fixed configuration of
    ``best_netG.pt`` when the file has its width, else (tiny test vocoders) the one its shapes imply."""
    from .models.bigvgan import BigVGANConfig

    if mode == "16k":
        released = BigVGANConfig.mmaudio_16k()
        pre = None if state is None else state.get("conv_pre.weight_v")
        if pre is None or _shape(pre)[:1] == (released.upsample_initial_channel,):
            return released  # (a file without conv_pre is then reported as missing it)
        return bigvgan_config_from_shapes(state)
    config = Path(folder_or_file)
    config = (config if config.is_dir() else config.parent) / "config.json"
    try:
        with open(config, encoding="utf-8") as fh:
            return BigVGANConfig.from_json(json.load(fh))
    except FileNotFoundError:
        raise CheckpointError(f"BigVGAN configuration not found: {config}") from None
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{config}: unusable BigVGAN configuration ({exc})") from None


# --------------------------------------------------------------------------- loading


def load_checked_state(model, state: dict, what: str, optional: tuple = (), notes: tuple = (),
                       check_finite: bool = True):
    return load_checked(model, state, what, optional, tuple(notes), check_finite)


def load_network(path: os.PathLike, size: Optional[str] = None, dtype=None, check_finite: bool = True):
    import torch

    what = f"MMAudio network checkpoint {path}"
    state, notes = unwrap(load_file(path), _is_tensor, what)
    state, more = drop_network_buffers(state)
    model = network_model_for(state, size)
    load_checked_state(model, state, what, notes=notes + more, check_finite=check_finite)
    return model.to(dtype) if dtype is not None else model.to(torch.float32)


def load_vae(path: os.PathLike, mode: Optional[str] = None, dtype=None, check_finite: bool = True):
    import torch

    what = f"MMAudio VAE checkpoint {path}"
    state, notes = unwrap(load_file(path), _is_tensor, what)
    model = vae_model_for(state, mode)
    load_checked_state(model, state, what, VAE_OPTIONAL, notes, check_finite)
    model = model.to(torch.float32).fold_weight_norm()  # normalised in float32, as the reference does
    return model.to(dtype) if dtype is not None else model


def load_bigvgan(path: os.PathLike, mode: str, dtype=None, check_finite: bool = True):
    import torch

    what = f"BigVGAN checkpoint {path}"
    state, notes = unwrap_bigvgan(load_file(path), what)
    model = bigvgan_model_for(bigvgan_config_for(Path(path), mode, state))
    load_checked_state(model, state, what, notes=notes, check_finite=check_finite)
    model = model.to(torch.float32).fold_weight_norm()
    return model.to(dtype) if dtype is not None else model


def read_weights(folder: Path, what: str) -> tuple[dict, list[str]]:
    """The CLIP state dict of an open_clip folder (safetensors preferred)."""
    for name in CLIP_WEIGHTS:
        if (Path(folder) / name).is_file():
            return unwrap(load_file(Path(folder) / name), _is_tensor, what)
    raise CheckpointError(f"{what}: none of {', '.join(CLIP_WEIGHTS)} found")


# --------------------------------------------------------------------------- writers (tests, benchmarks)


def save_state(model, path: os.PathLike, wrapper: Optional[str] = None) -> None:
    """Write a model's tensors in a released layout (a plain state dict, or under ``wrapper``)."""
    import torch

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    torch.save({wrapper: state} if wrapper else state, path)


__all__ = ["CheckpointError", "dtype_name", "expected_of", "load_network", "load_vae", "load_bigvgan",
           "load_synchformer", "read_weights", "save_state"]
