"""Finding, downloading and loading the released HunyuanVideo-Foley files.

Layout of a models folder (``--models-dir``, ``FOLEY_MODELS_DIR``, or the
per-user data folder)::

    <models>/hunyuan/hunyuanvideo_foley.pth         DiT, XXL   (hub: tencent/HunyuanVideo-Foley)
    <models>/hunyuan/hunyuanvideo_foley_xl.pth      DiT, XL
    <models>/hunyuan/vae_128d_48k.pth               audio VAE (DAC layout, kwargs inside)
    <models>/hunyuan/synchformer_state_dict.pth     Synchformer
    <models>/hunyuan/siglip2-base-patch16-512/      hub: google/siglip2-base-patch16-512
    <models>/hunyuan/larger_clap_general/           hub: laion/larger_clap_general

Every ``.pth`` is read with ``torch.load(weights_only=True)``: tensors and
plain containers only, never arbitrary pickled objects.  Model code is built
on the ``meta`` device and takes the file's tensors directly (``assign``), so
loading needs one copy of the weights in memory.  What the file may differ in
is decided by :mod:`.policy` (missing, mis-shaped, mis-typed or misplaced
tensors are errors that name them; training-only extras and optional parts
are accepted and listed); the final ``load_state_dict`` is always strict.
"""
from __future__ import annotations

import logging
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from ...errors import BackendError
from . import released
from .policy import CheckpointError, Expected, check, unwrap

log = logging.getLogger("foley_engine.hunyuan")

HUB_REPO = "tencent/HunyuanVideo-Foley"
SIGLIP_REPO = "google/siglip2-base-patch16-512"
CLAP_REPO = "laion/larger_clap_general"
SUBDIR = "hunyuan"

DIT_FILES = {"xxl": "hunyuanvideo_foley.pth", "xl": "hunyuanvideo_foley_xl.pth"}
VAE_FILE = "vae_128d_48k.pth"
SYNCHFORMER_FILE = "synchformer_state_dict.pth"
SIGLIP_DIR = "siglip2-base-patch16-512"
CLAP_DIR = "larger_clap_general"
#: files a transformers folder must have to load offline
HF_FOLDER_MARKER = "config.json"
#: configuration and tokenizer files to fetch of the two transformers repos (weights: see _hf_patterns)
HF_PATTERNS = ["*.json", "*.txt", "*.model"]

#: parameter counts of the released components (measured from the model code; SigLIP2 and CLAP approximate)
PARAMS = {"xxl": 5_134_014_848, "xl": 2_912_962_688, "vae": 371_589_058, "synchformer": 237_460_245,
          "siglip": 375_000_000, "clap": 125_000_000}


def default_models_dir() -> Path:
    env = os.environ.get("FOLEY_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("foley-engine")) / "models"


def hunyuan_dir(models_dir: Optional[os.PathLike] = None) -> Path:
    return Path(models_dir).expanduser() / SUBDIR if models_dir else default_models_dir() / SUBDIR


def check_size(size: str) -> str:
    size = (size or "xxl").lower()
    if size not in DIT_FILES:
        raise BackendError(f"unknown HunyuanVideo-Foley size {size!r}; use one of: {', '.join(DIT_FILES)}")
    return size


def required(size: str) -> list[str]:
    return [DIT_FILES[check_size(size)], VAE_FILE, SYNCHFORMER_FILE, SIGLIP_DIR, CLAP_DIR]


def missing(folder: Path, size: str) -> list[str]:
    out = []
    for name in required(size):
        path = folder / name
        ok = (path / HF_FOLDER_MARKER).is_file() if name in (SIGLIP_DIR, CLAP_DIR) else path.is_file()
        if not ok:
            out.append(name)
    return out


def download_hint(size: str, models_dir: Optional[os.PathLike] = None) -> str:
    where = f" --models-dir {models_dir}" if models_dir else ""
    return f"foley models download hunyuan --size {check_size(size)}{where}"


def require_files(folder: Path, size: str, models_dir: Optional[os.PathLike] = None) -> None:
    gone = missing(folder, size)
    if gone:
        raise BackendError(
            f"HunyuanVideo-Foley ({size}) weights not found in {folder}: missing {', '.join(gone)}; "
            f"fetch them with `{download_hint(size, models_dir)}`"
        )


def estimate_bytes(size: str, dit_bytes_per_param: int = 2) -> int:
    """Device memory to hold every component at once (weights only, plus 15% working room)."""
    weights = PARAMS[check_size(size)] * dit_bytes_per_param + 4 * sum(
        PARAMS[k] for k in ("vae", "synchformer", "siglip", "clap"))
    return int(weights * 1.15)


def estimate_offload_bytes(size: str, dit_bytes_per_param: int = 2) -> int:
    """With offload only the largest component is resident: the DiT, plus activations."""
    return int(PARAMS[check_size(size)] * dit_bytes_per_param * 1.15 + 2 * 2**30)


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


# --------------------------------------------------------------------------- state dicts


def load_file(path: os.PathLike) -> dict:
    """Read a checkpoint safely: safetensors, or a torch file with ``weights_only=True``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as load_safetensors

            return load_safetensors(str(path))
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:
            pass  # old (non-zip) files cannot be memory-mapped: try again reading it whole
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects; say why in a line, not a traceback
        raise CheckpointError(f"{path}: {_why_unreadable(path, exc)}") from None


def _why_unreadable(path: Path, exc: Exception) -> str:
    """Why torch could not read a file, in the words of its index: cut short, pickled objects, ..."""
    from .ckpt_index import UnreadableIndex, read_index

    try:
        index = read_index(path)
    except UnreadableIndex as why:
        return f"refusing to load it: {why}"
    if index.truncated:
        return f"incomplete, {index.truncated}; fetch it again (`foley models verify` shows what is there)"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"not a plain tensor checkpoint, refusing to unpickle it ({first})"


def read_state(path: os.PathLike, what: str) -> tuple[dict, list[str]]:
    """The flat state dict of a checkpoint, unwrapped, and notes on the unwrapping."""
    import torch

    return unwrap(load_file(path), lambda v: isinstance(v, torch.Tensor), what)


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def expected_of(model, optional: tuple = ()) -> Expected:
    """The tensors ``model`` (built on any device, meta included) defines, for :func:`.policy.check`."""
    tensors = {k: (tuple(v.shape), dtype_name(v.dtype)) for k, v in model.state_dict().items()}
    defined = {name for name, _ in model.named_children()}
    defined |= {name for name, _ in model.named_parameters(recurse=False)}
    defined |= {name for name, _ in model.named_buffers(recurse=False)}
    return Expected(tensors, frozenset(defined), tuple(optional))


def nonfinite(named_tensors, device=None) -> list[str]:
    """Names of the tensors that hold a NaN or an infinity, each checked on ``device`` (default: where it is).

    A float32 sum screens each tensor (any NaN or inf makes the sum non-finite;
    it is ~50x faster than ``isfinite`` on bf16 on a CPU); only a tensor whose
    sum is not finite, which finite values can also cause by overflowing, is
    checked element by element.
    """
    import torch

    bad = []
    for name, t in named_tensors:
        if not t.is_floating_point() or t.device.type == "meta":
            continue
        if device is not None:
            t = t.to(device)
        if not bool(torch.isfinite(t.sum(dtype=torch.float32))) and not bool(torch.isfinite(t).all()):
            bad.append(name)
    return bad


def require_finite(model, what: str, device=None) -> None:
    bad = nonfinite(model.state_dict().items(), device)
    if bad:
        raise CheckpointError(f"{what}: {len(bad)} tensors hold NaN or infinite values: {', '.join(bad[:8])}"
                              + (f" (+{len(bad) - 8} more)" if len(bad) > 8 else ""))


def load_checked(model, state: dict, what: str, optional: tuple = (), notes: tuple = (), check_finite: bool = True):
    """Load ``state`` into ``model`` under the loading policy, or raise naming every offending tensor.

    Optional parts the file lacks are removed from the model (never left
    uninitialised); accepted extras are dropped and listed; the final load is
    strict.  ``check_finite=False`` leaves the NaN/inf check to the caller
    (the pipeline runs it on the GPU, where it is nearly free).
    """
    found = {k: (tuple(v.shape), dtype_name(v.dtype)) for k, v in state.items()}
    verdict = check(expected_of(model, optional), found, what)
    verdict.notes.extend(notes)
    verdict.raise_if_bad()
    for part in verdict.absent:
        delattr(model, part)
    extras = set(verdict.extras)
    model.load_state_dict({k: v for k, v in state.items() if k not in extras}, strict=True, assign=True)
    if check_finite:
        require_finite(model, what)
    model.load_notices = verdict.notices()
    for line in model.load_notices:
        log.warning("%s: %s", what, line)
    return model.eval()  # loaded for inference (also picks the same attention kernels as the pipeline)


def _depth(state: dict, prefix: str) -> int:
    """Blocks in a stack: highest index + 1, so a gap shows up as missing tensors, not as a shallower model."""
    rx = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    found = [int(m.group(1)) for k in state if (m := rx.match(k))]
    if not found:
        raise CheckpointError(f"no {prefix}.N.* tensors (the whole stack is missing)")
    return max(found) + 1


def dit_config_from_state(state: dict):
    """The DiT configuration implied by a checkpoint's tensor shapes."""
    try:
        return _dit_config_from_state(state)
    except CheckpointError as exc:
        raise CheckpointError(f"not a HunyuanVideo-Foley DiT state dict, or an incomplete one: {exc}") from None
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"not a HunyuanVideo-Foley DiT state dict, or one without a tensor its "
                              f"configuration is read from: {exc} is missing or malformed") from None


def _dit_config_from_state(state: dict):
    from .dit import DiTConfig

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
    try:
        return _synchformer_config_from_state(state)
    except CheckpointError as exc:
        raise CheckpointError(f"not a Synchformer state dict, or an incomplete one: {exc}") from None
    except (KeyError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"not a Synchformer state dict, or one without a tensor its "
                              f"configuration is read from: {exc} is missing or malformed") from None


def _synchformer_config_from_state(state: dict):
    from dataclasses import replace

    from .synchformer import SynchformerConfig

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
    from .synchformer import SynchformerConfig

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
    from .dit import DiTConfig

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

    from .dit import HunyuanFoleyDiT

    cfg = dit_config_from_state(state)
    if size is not None:
        check_dit_size(cfg, size, path)
    with torch.device("meta"):
        return HunyuanFoleyDiT(cfg)


def synchformer_model_for(state: dict):
    import torch

    from .synchformer import Synchformer

    cfg = synchformer_config_from_state(state)
    with torch.device("meta"):
        return Synchformer(cfg)


def vae_model_for(blob, path="audio VAE checkpoint"):
    """The VAE (on the meta device) built from the constructor arguments stored in the file."""
    import torch

    from .dac_vae import DACConfig, DACVAE

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


# --------------------------------------------------------------------------- download


@dataclass(frozen=True)
class Installed:
    name: str
    path: Path
    bytes: int


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def installed(models_dir: Optional[os.PathLike] = None) -> list[Installed]:
    folder = hunyuan_dir(models_dir)
    names = list(DIT_FILES.values()) + [VAE_FILE, SYNCHFORMER_FILE, SIGLIP_DIR, CLAP_DIR]
    return [Installed(n, folder / n, folder_bytes(folder / n)) for n in names if (folder / n).exists()]


def download(size: str, models_dir: Optional[os.PathLike] = None, source: Optional[os.PathLike] = None,
             log: Callable[[str], None] = print) -> Path:
    """Fetch what ``size`` needs into ``<models>/hunyuan`` and return that folder.

    From the hub with ``huggingface_hub`` (resumable, with its progress bars),
    or, with ``source``, from a local folder laid out like ``<models>/hunyuan``
    (an offline mirror).  Files already present are kept.
    """
    size = check_size(size)
    folder = hunyuan_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    todo = missing(folder, size)
    if not todo:
        log(f"HunyuanVideo-Foley {size}: everything is already in {folder}")
        return folder
    for name in todo:
        log(f"fetching {name} ...")
        if source is not None:
            _copy_from(Path(source), name, folder)
        elif name in (SIGLIP_DIR, CLAP_DIR):
            from huggingface_hub import snapshot_download

            repo = SIGLIP_REPO if name == SIGLIP_DIR else CLAP_REPO
            snapshot_download(repo_id=repo, local_dir=folder / name, allow_patterns=_hf_patterns(repo))
        else:
            from huggingface_hub import hf_hub_download

            hf_hub_download(repo_id=HUB_REPO, filename=name, local_dir=folder)
    still = missing(folder, size)
    if still:
        raise BackendError(f"download finished but {', '.join(still)} is still missing in {folder}")
    log(f"HunyuanVideo-Foley {size}: ready in {folder}")
    return folder


def _hf_patterns(repo: str) -> list[str]:
    """Config and tokenizer files plus one copy of the weights: safetensors when the repo has them."""
    from huggingface_hub import list_repo_files

    files = list_repo_files(repo)
    weights = [f for f in files if f.endswith(".safetensors")] or [f for f in files if f.endswith(".bin")]
    return HF_PATTERNS + weights


def _copy_from(source: Path, name: str, folder: Path) -> None:
    src = source / name
    if not src.exists():
        raise BackendError(f"{name} not found in {source}")
    dst = folder / name
    tmp = folder / (name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    # Copy, then rename: an interrupted copy never looks like a finished file.
    shutil.copytree(src, tmp) if src.is_dir() else shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def format_listing(models_dir: Optional[os.PathLike], device: str, checks: Iterable[tuple[str, str]]) -> str:
    folder = hunyuan_dir(models_dir)
    lines = [f"models folder: {folder}"]
    found = installed(models_dir)
    if not found:
        lines.append("  (nothing installed)")
    for item in found:
        lines.append(f"  {item.name:<32} {gib(item.bytes):>9}")
    for size, verdict in checks:
        lines.append(f"hunyuan --size {size} on {device}: {verdict}")
    if found:
        lines.append("(files present; `foley models verify` checks that they are whole and match the model)")
    return "\n".join(lines)
