"""Where the released HunyuanVideo-Foley files live, what each size needs, and what it costs in memory.

Layout of a models folder (``--models-dir``, ``FOLEY_MODELS_DIR``, or the
per-user data folder)::

    <models>/hunyuan/hunyuanvideo_foley.pth         DiT, XXL   (hub: tencent/HunyuanVideo-Foley)
    <models>/hunyuan/hunyuanvideo_foley_xl.pth      DiT, XL
    <models>/hunyuan/vae_128d_48k.pth               audio VAE (DAC layout, kwargs inside)
    <models>/hunyuan/synchformer_state_dict.pth     Synchformer
    <models>/hunyuan/siglip2-base-patch16-512/      hub: google/siglip2-base-patch16-512
    <models>/hunyuan/larger_clap_general/           hub: laion/larger_clap_general
    <models>/hunyuan/hunyuanvideo_foley[_xl]_fp8.safetensors   optional float8 copy of a DiT (written by us)

No torch: the backend answers "is it installed, will it fit" before anything heavy loads.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ....errors import BackendError

HUB_REPO = "tencent/HunyuanVideo-Foley"
SIGLIP_REPO = "google/siglip2-base-patch16-512"
CLAP_REPO = "laion/larger_clap_general"
SUBDIR = "hunyuan"

DIT_FILES = {"xxl": "hunyuanvideo_foley.pth", "xl": "hunyuanvideo_foley_xl.pth"}
#: the float8 copies of the DiTs, written once by ``--weights fp8`` (never downloaded; see checkpoints/fp8_copy.py)
FP8_FILES = {"xxl": "hunyuanvideo_foley_fp8.safetensors", "xl": "hunyuanvideo_foley_xl_fp8.safetensors"}
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
