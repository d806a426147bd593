"""Sampling: features -> flow-matching ODE with classifier-free guidance -> VAE decode -> vocoder -> 48 kHz.

The released recipe: noise ``x_0 ~ N(0, I)`` at t = 0 flows to normalised latents at t = 1 along the
network's velocity, integrated by Euler in 25 equal steps; guidance ``g * v(cond) + (1 - g) * v(empty)``
with g = 4.5, the unconditional branch using the learned empty CLIP/Synchformer features and the encoded
negative prompt (the empty string by default).  Latents are un-normalised, decoded to a log-mel
spectrogram (two mel frames per latent) and vocoded.

The model's audio (16 kHz or 44.1 kHz) starts at the window's first instant; it is resampled to the
48 kHz grid with soxr (``VHQ``, linear phase, delay compensated: a fixed, documented resampler) and cut
to exactly the window's sample count, so placement is exact whatever the model's rate.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ...models.synchformer import Synchformer
from ...timebase import SAMPLE_RATE
from ..hunyuan.models.encoders import normalise_frames
from .files import Mode, WindowLengths, window_lengths
from .models.bigvgan import BigVGAN
from .models.clip import ClipEncoder
from .models.network import Conditions, MMAudioNetwork
from .models.vae import AudioVAE

DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 4.5
#: soxr quality for the model-rate -> 48 kHz conversion (fixed: the output is bit-reproducible)
RESAMPLE_QUALITY = "VHQ"


def euler_flow(network: MMAudioNetwork, x0: torch.Tensor, cond: Conditions, empty: Conditions,
               steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE) -> torch.Tensor:
    """Integrate from noise (t = 0) to normalised latents (t = 1) in ``steps`` equal Euler steps."""
    grid = torch.linspace(0.0, 1.0, steps + 1)  # float32, as the reference's time grid
    x = x0
    for i in range(steps):
        t, dt = grid[i], grid[i + 1] - grid[i]
        x = x + dt.to(x.dtype) * network.guided_flow(x, float(t), cond, empty, guidance)
    return x


def resample_to_grid(audio: np.ndarray, rate: int, num_samples: int, out_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Model-rate audio starting at the window's start -> exactly ``num_samples`` at ``out_rate``."""
    import soxr

    audio = np.asarray(audio, dtype=np.float64)
    if rate != out_rate:
        audio = soxr.resample(audio, rate, out_rate, quality=RESAMPLE_QUALITY)
    if audio.shape[0] < num_samples:  # the model's grid covers the window; this only guards rounding
        audio = np.pad(audio, (0, num_samples - audio.shape[0]))
    return audio[:num_samples].astype(np.float32)


@dataclass
class Timings:
    """Seconds per stage of the last window (the CPU benchmark's split)."""

    clip: float = 0.0
    synchformer: float = 0.0
    text: float = 0.0
    flow: float = 0.0
    vae: float = 0.0
    vocoder: float = 0.0
    resample: float = 0.0

    def as_dict(self) -> dict:
        return {k: round(v, 4) for k, v in vars(self).items() if isinstance(v, float)}


class MMAudioPipeline:
    def __init__(self, network: MMAudioNetwork, vae: AudioVAE, vocoder: BigVGAN, synchformer: Synchformer,
                 clip: ClipEncoder, mode: Mode, device: str = "cpu", dtype: torch.dtype = torch.float32):
        self.network, self.vae, self.vocoder, self.synchformer, self.clip = network, vae, vocoder, synchformer, clip
        self.mode = mode
        self.device = torch.device(device)
        self.dtype = dtype
        for part in (network, vae, vocoder, synchformer):
            part.to(self.device, dtype).eval()
        clip.model.to(self.device, dtype)
        if vocoder.hop != mode.hop or vocoder.config.num_mels != vae.config.mel_bins:
            raise ValueError(f"the vocoder (hop {vocoder.hop}, {vocoder.config.num_mels} bands) does not fit the "
                             f"{mode.name} path (hop {mode.hop}, {vae.config.mel_bins} bands)")
        if vae.config.latent_dim != network.config.latent_dim:
            raise ValueError(f"the VAE's latents are {vae.config.latent_dim}-d, the network's "
                             f"{network.config.latent_dim}-d: files of different modes")
        self._text_cache: Optional[tuple] = None
        self.timings = Timings()

    @classmethod
    def from_folder(cls, folder, size: str, device: str = "cpu", dtype: Optional[torch.dtype] = None) -> "MMAudioPipeline":
        from .checkpoints import load_bigvgan, load_network, load_synchformer, load_vae
        from .files import BIGVGAN_16K_FILE, BIGVGAN_44K_DIR, CLIP_DIR, SYNCHFORMER_FILE, check_size, mode_of, network_file

        size = check_size(size)
        mode = mode_of(size)
        folder = Path(folder)
        if dtype is None:  # 16-bit on accelerators, as released; float32 on the CPU
            dtype = torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16
        network = load_network(folder / network_file(size), size)
        vae = load_vae(folder / mode.vae_file, mode.name)
        vocoder_path = folder / (BIGVGAN_16K_FILE if mode.name == "16k" else f"{BIGVGAN_44K_DIR}/bigvgan_generator.pt")
        vocoder = load_bigvgan(vocoder_path, mode.name)
        synchformer = load_synchformer(folder / SYNCHFORMER_FILE, torch.float32)
        clip = ClipEncoder.from_folder(folder / CLIP_DIR)
        return cls(network, vae, vocoder, synchformer, clip, mode, device, dtype)

    @property
    def sample_rate(self) -> int:
        return self.mode.sample_rate

    def _autocast(self):
        if self.device.type == "cpu" or self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def _timed(self, stage: str):
        """Record the seconds a stage takes (device work included) in ``self.timings``."""
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            setattr(self.timings, stage, time.perf_counter() - start)

    # ------------------------------------------------------------------ features

    @torch.no_grad()
    def text_features(self, prompt: str, negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        key = (prompt, negative_prompt)
        if self._text_cache is None or self._text_cache[0] != key:
            with self._timed("text"):
                feats = self.clip.encode_text([prompt, negative_prompt]).to(self.dtype)
            self._text_cache = (key, (feats[:1], feats[1:]))
        else:
            self.timings.text = 0.0
        return self._text_cache[1]

    @torch.no_grad()
    def clip_features(self, frames: np.ndarray, count: int) -> torch.Tensor:
        """(N, 384, 384, 3) uint8 at 8 fps -> (1, count, D); a window without frames gets the empty feature."""
        with self._timed("clip"):
            if frames.shape[0] == 0:
                return self.network.empty_clip_feat[None].expand(1, count, -1)
            feats = self.clip.encode_frames(frames[:count]).to(self.dtype)
            if feats.shape[1] < count:  # hold the last frame (a window ending before its last 8-fps instant)
                feats = torch.cat([feats, feats[:, -1:].expand(1, count - feats.shape[1], -1)], dim=1)
            return feats

    @torch.no_grad()
    def sync_features(self, frames: np.ndarray, tokens: int) -> torch.Tensor:
        """(N, 224, 224, 3) uint8 at 25 fps -> (1, tokens, 768) Synchformer tokens (16-frame segments, stride 8)."""
        with self._timed("synchformer"):
            need = (tokens // 8 - 1) * 8 + 16
            if frames.shape[0] == 0:
                return self.network.empty_sync_feat[None].expand(1, tokens, -1)
            if frames.shape[0] < need:  # short windows: hold the last frame
                frames = np.concatenate([frames, np.repeat(frames[-1:], need - frames.shape[0], axis=0)])
            x = normalise_frames(frames[:need], self.device, self.dtype)
            with self._autocast():
                return self.synchformer.encode_frames(x).to(self.dtype)

    # ------------------------------------------------------------------ one window

    @torch.no_grad()
    def latents(self, clip: torch.Tensor, sync: torch.Tensor, text: torch.Tensor, negative: torch.Tensor,
                lengths: WindowLengths, seed: int, steps: int = DEFAULT_STEPS,
                guidance: float = DEFAULT_GUIDANCE, x0: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Normalised -> un-normalised latents (1, N, latent_dim) by the guided Euler flow."""
        net = self.network
        if x0 is None:  # noise drawn on the CPU so a seed gives the same start on every device
            generator = torch.Generator("cpu").manual_seed(int(seed))
            x0 = torch.randn(1, lengths.latent, net.config.latent_dim, generator=generator)
        with self._timed("flow"), self._autocast():
            x0 = x0.to(self.device, self.dtype)
            cond = net.prepare_conditions(clip, sync, text, lengths.latent)
            empty = net.empty_conditions(clip.shape[1], sync.shape[1], lengths.latent, negative_text=negative)
            x1 = euler_flow(net, x0, cond, empty, steps, guidance)
            return net.unnormalize(x1)

    @torch.no_grad()
    def audio(self, latents: torch.Tensor) -> np.ndarray:
        """(1, N, latent_dim) latents -> (N * 2 * hop,) float32 audio at the model's rate."""
        with self._timed("vae"), self._autocast():
            mel = self.vae.decode(latents.transpose(1, 2).to(self.dtype))
        with self._timed("vocoder"), self._autocast():
            wave = self.vocoder(mel.to(self.dtype))
        return wave[0, 0].float().cpu().numpy()

    def generate(self, clip_frames: np.ndarray, sync_frames: np.ndarray, num_samples: int, prompt: str,
                 negative_prompt: str = "", seed: int = 0, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, out_rate: int = SAMPLE_RATE) -> np.ndarray:
        """One window of ``num_samples`` at ``out_rate``: exactly that many float32 mono samples."""
        duration = Fraction(num_samples, out_rate)
        lengths = window_lengths(duration, self.mode)
        text, negative = self.text_features(prompt, negative_prompt)
        clip = self.clip_features(clip_frames, lengths.clip)
        sync = self.sync_features(sync_frames, lengths.sync)
        latents = self.latents(clip, sync, text, negative, lengths, seed, steps, guidance)
        wave = self.audio(latents)
        with self._timed("resample"):
            return resample_to_grid(wave, self.sample_rate, num_samples, out_rate)
