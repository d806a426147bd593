"""Facts about the released MMAudio files and time grids: where each file lives, what a size needs, the
sequence lengths of a window.  No torch: the backend answers "is it installed" before anything heavy loads.

Layout of a models folder (``--models-dir``, ``FOLEY_MODELS_DIR``, or the per-user data folder)::

    <models>/mmaudio/weights/mmaudio_<size>.pth               flow network   (hub: hkchengrex/MMAudio)
    <models>/mmaudio/ext_weights/v1-16.pth, v1-44.pth         audio VAEs 16 kHz / 44.1 kHz   (same repo)
    <models>/mmaudio/ext_weights/best_netG.pt                 16 kHz BigVGAN vocoder         (same repo)
    <models>/mmaudio/ext_weights/synchformer_state_dict.pth   Synchformer                    (same repo)
    <models>/mmaudio/bigvgan_v2_44khz_128band_512x/           44.1 kHz vocoder: config.json, bigvgan_generator.pt
                                                              (hub: nvidia/bigvgan_v2_44khz_128band_512x)
    <models>/mmaudio/DFN5B-CLIP-ViT-H-14-384/                 CLIP: open_clip_config.json and weights
                                                              (hub: apple/DFN5B-CLIP-ViT-H-14-384), plus the
                                                              CLIP BPE vocab.json + merges.txt
                                                              (hub: openai/clip-vit-base-patch32)

The first four mirror the MMAudio repository's own ``weights/`` and ``ext_weights/`` folders, so an
existing MMAudio checkout can be copied in with ``foley models download mmaudio --from CHECKOUT``.

Time grids (as released): CLIP frames at 8 fps, 384 x 384 stretched; Synchformer frames at 25 fps, short
side to 224 then a centre crop, in segments of 16 frames with stride 8 (8 tokens per segment); audio
latents at sample_rate / (2 * hop): 31.25 per second at 16 kHz (hop 256), 43.07 per second at 44.1 kHz
(hop 512).  The network was trained on 8-s clips.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

from ...errors import BackendError

SUBDIR = "mmaudio"
HUB_REPO = "hkchengrex/MMAudio"
BIGVGAN_44K_REPO = "nvidia/bigvgan_v2_44khz_128band_512x"
CLIP_REPO = "apple/DFN5B-CLIP-ViT-H-14-384"
#: DFN5B uses OpenAI CLIP's BPE vocabulary (open_clip ships it inside its wheel; we fetch the two files)
TOKENIZER_REPO = "openai/clip-vit-base-patch32"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
SIZES = ("small_16k", "small_44k", "medium_44k", "large_44k", "large_44k_v2")
DEFAULT_SIZE = "large_44k_v2"  # the maintainers' recommendation

#: licences, shown by ``foley backends`` and printed once by ``foley generate --backend mmaudio``
CODE_LICENCE = "MIT"
WEIGHTS_LICENCE = "CC-BY-NC 4.0 (non-commercial use only)"
LICENCE_LINE = (f"MMAudio weights: {WEIGHTS_LICENCE}; code {CODE_LICENCE}. CLIP (DFN5B): Apple's sample-code "
                f"licence; BigVGAN: MIT. Check that your use is allowed before you publish the sound.")

SYNCHFORMER_FILE = "ext_weights/synchformer_state_dict.pth"
BIGVGAN_16K_FILE = "ext_weights/best_netG.pt"
BIGVGAN_44K_DIR = "bigvgan_v2_44khz_128band_512x"
BIGVGAN_44K_FILES = ("config.json", "bigvgan_generator.pt")
CLIP_DIR = "DFN5B-CLIP-ViT-H-14-384"
CLIP_CONFIG = "open_clip_config.json"
#: the CLIP weights in either of the hub's two formats (safetensors preferred)
CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

#: MD5 sums the reference publishes for its files, by base name (``foley models verify --sha256`` checks them)
MD5 = {
    "mmaudio_small_16k.pth": "af93cde404179f58e3919ac085b8033b",
    "mmaudio_small_44k.pth": "babd74c884783d13701ea2820a5f5b6d",
    "mmaudio_medium_44k.pth": "5a56b6665e45a1e65ada534defa903d0",
    "mmaudio_large_44k.pth": "fed96c325a6785b85ce75ae1aafd2673",
    "mmaudio_large_44k_v2.pth": "01ad4464f049b2d7efdaa4c1a59b8dfe",
    "v1-16.pth": "69f56803f59a549a1a507c93859fd4d7",
    "best_netG.pt": "eeaf372a38a9c31c362120aba2dde292",
    "v1-44.pth": "fab020275fa44c6589820ce025191600",
    "synchformer_state_dict.pth": "5b2f5594b0730f70e41e549b7c94390c",
}


@dataclass(frozen=True)
class Mode:
    """One audio path: 16 kHz (mel 80, BigVGAN) or 44.1 kHz (mel 128, BigVGAN-v2)."""

    name: str
    sample_rate: int
    hop: int  # mel frame hop; a latent frame is two mel frames
    vae_file: str

    @property
    def samples_per_latent(self) -> int:
        return 2 * self.hop

    @property
    def latent_rate(self) -> Fraction:
        return Fraction(self.sample_rate, self.samples_per_latent)


MODES = {"16k": Mode("16k", 16000, 256, "ext_weights/v1-16.pth"), "44k": Mode("44k", 44100, 512, "ext_weights/v1-44.pth")}
CLIP_FPS = Fraction(8)
SYNC_FPS = Fraction(25)
CLIP_SIZE = 384
SYNC_SIZE = 224
SYNC_SEGMENT, SYNC_STEP, SYNC_TOKENS = 16, 8, 8
NATIVE_WINDOW = Fraction(8)


def check_size(size: Optional[str]) -> str:
    size = (size or DEFAULT_SIZE).lower()
    if size not in SIZES:
        raise BackendError(f"unknown MMAudio size {size!r}; use one of: {', '.join(SIZES)}")
    return size


def mode_of(size: str) -> Mode:
    return MODES["16k" if check_size(size).endswith("16k") else "44k"]


def network_file(size: str) -> str:
    return f"weights/mmaudio_{check_size(size)}.pth"


def required(size: str) -> list[str]:
    """Names (files, or folders) ``size`` needs inside ``<models>/mmaudio``."""
    mode = mode_of(size)
    vocoder = BIGVGAN_16K_FILE if mode.name == "16k" else BIGVGAN_44K_DIR
    return [network_file(size), mode.vae_file, vocoder, SYNCHFORMER_FILE, CLIP_DIR]


def clip_weights(folder: Path) -> Optional[Path]:
    for name in CLIP_WEIGHTS:
        if (folder / CLIP_DIR / name).is_file():
            return folder / CLIP_DIR / name
    return None


def _present(folder: Path, name: str) -> bool:
    if name == CLIP_DIR:
        files = (CLIP_CONFIG,) + TOKENIZER_FILES
        return all((folder / CLIP_DIR / f).is_file() for f in files) and clip_weights(folder) is not None
    if name == BIGVGAN_44K_DIR:
        return all((folder / name / f).is_file() for f in BIGVGAN_44K_FILES)
    return (folder / name).is_file()


def missing(folder: Path, size: str) -> list[str]:
    return [name for name in required(size) if not _present(folder, name)]


def default_models_dir() -> Path:
    env = os.environ.get("FOLEY_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("foley-engine")) / "models"


def mmaudio_dir(models_dir: Optional[os.PathLike] = None) -> Path:
    return Path(models_dir).expanduser() / SUBDIR if models_dir else default_models_dir() / SUBDIR


def download_hint(size: str, models_dir: Optional[os.PathLike] = None) -> str:
    where = f" --models-dir {models_dir}" if models_dir else ""
    return f"foley models download mmaudio --size {check_size(size)}{where}"


def require_files(folder: Path, size: str, models_dir: Optional[os.PathLike] = None) -> None:
    gone = missing(folder, size)
    if gone:
        raise BackendError(f"MMAudio ({size}) weights not found in {folder}: missing {', '.join(gone)}; "
                           f"fetch them with `{download_hint(size, models_dir)}`")


# --------------------------------------------------------------------------- sequence lengths


@dataclass(frozen=True)
class WindowLengths:
    """Token counts of one window, from its duration, as the released sequence configuration computes them."""

    latent: int
    clip: int
    sync: int  # Synchformer tokens (8 per segment)

    @property
    def sync_frames(self) -> int:
        """25-fps frames the Synchformer segments cover."""
        return (self.sync // SYNC_TOKENS - 1) * SYNC_STEP + SYNC_SEGMENT


def window_lengths(duration: Fraction, mode: Mode) -> WindowLengths:
    """Exact arithmetic: latent frames cover the duration (rounded up); CLIP frames and whole Synchformer
    segments fit inside it (rounded down; at least one segment)."""
    duration = Fraction(duration)
    latent = math.ceil(duration * mode.latent_rate)
    clip = max(1, math.floor(duration * CLIP_FPS))
    frames = math.floor(duration * SYNC_FPS)
    segments = max(1, (frames - SYNC_SEGMENT) // SYNC_STEP + 1)
    return WindowLengths(latent, clip, segments * SYNC_TOKENS)
