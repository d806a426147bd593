"""Sampling: features -> flow-matching ODE with classifier-free guidance -> VAE decode.

The released recipe: linear flow path ``x_s = s * noise + (1 - s) * audio``,
the model predicts the velocity ``noise - audio``, and an Euler solver walks
``s`` from 1 to 0 in equal steps (shift 1.0).  diffusers'
``FlowMatchEulerDiscreteScheduler`` given those sigmas performs exactly that
update (timestep = 1000 * s).  Guidance mixes an unconditional branch (the
model's learned "empty" visual features and the negative prompt's text
features) with the conditional one: ``u + g * (c - u)``.

Long-form continuity: when the scheduler hands over the previous window's
audio for this window's overlap, it is encoded to latents and the
overlapping latent frames are held on the flow path of that audio during
sampling (inpainting by replacement), so the new window continues what was
already played instead of starting afresh.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from ...models.synchformer import Synchformer
from .models.dac_vae import DACVAE
from .models.dit import HunyuanFoleyDiT
from .models.encoders import ClapTextEncoder, SiglipVisionEncoder, normalise_frames
from .offload import Offload, parse_offload, place_dit

DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 4.5
DEFAULT_NEGATIVE_PROMPT = "noisy, harsh"
WEIGHTS = ("bf16", "fp8")
#: latent frames at the end of a conditioning tail that are not trusted (40 ms at 50 Hz)
EDGE_FRAMES = 2


@dataclass
class Conditions:
    text: torch.Tensor  # (1, Lt, D)
    negative_text: torch.Tensor  # (1, Lt, D)
    clip: torch.Tensor  # (1, Lv, D)
    sync: torch.Tensor  # (1, 8*S, D)


def make_scheduler(steps: int):
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    # sigmas 1, 1 - 1/N, ..., 1/N; the scheduler appends the final 0.
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1].tolist())
    return scheduler


class HunyuanFoleyPipeline:
    """Holds the five components and places them as ``offload`` says (:mod:`.offload`)."""

    def __init__(self, dit: HunyuanFoleyDiT, vae: DACVAE, synchformer: Synchformer, siglip: SiglipVisionEncoder,
                 clap: ClapTextEncoder, device: str = "cpu", offload: Union[bool, str, Offload] = False,
                 transfer=None):
        self.dit, self.vae, self.synchformer, self.siglip, self.clap = dit, vae, synchformer, siglip, clap
        self.device = torch.device(device)
        self.offload = parse_offload(offload)
        # Every window of a job has the same prompts: keep the last text features.
        self._text_cache: Optional[tuple[tuple[str, str], tuple[torch.Tensor, torch.Tensor]]] = None
        for part in (vae, synchformer, siglip, clap):
            part.to("cpu" if self.offload.parts_offloaded else self.device)
        self.streamer = place_dit(dit, self.device, self.offload, transfer)
        for model in (dit, vae, synchformer):
            model.eval()

    @property
    def weights(self) -> str:
        """``bf16`` (the DiT as released) or ``fp8-tensor`` / ``fp8-channel``."""
        return getattr(self.dit, "weights", "bf16")

    @classmethod
    def from_folder(cls, folder, size: str, device: str = "cuda:0", offload: Union[bool, str, Offload] = False,
                    dit_dtype: Optional[torch.dtype] = None, weights: str = "bf16",
                    granularity: Optional[str] = None) -> "HunyuanFoleyPipeline":
        """Load every component from a models folder laid out as in :mod:`.checkpoints.layout`.

        ``weights="fp8"``: the DiT's block weights in float8 (:mod:`.models.fp8`), from the
        copy in the folder when there is a current one, else quantised now (and the copy written).
        """
        from .checkpoints.layout import CLAP_DIR, DIT_FILES, SIGLIP_DIR, SYNCHFORMER_FILE, VAE_FILE, check_size
        from .checkpoints.fp8_copy import load_fp8_dit
        from .checkpoints.load import load_dit, load_synchformer, load_vae
        from .checkpoints.state import check_hf_weights, require_finite

        size = check_size(size)
        if dit_dtype is None:  # bf16 on accelerators, as released; float32 where bf16 matmuls are slow
            dit_dtype = torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16
        paths = {"dit": Path(folder) / DIT_FILES[size], "vae": Path(folder) / VAE_FILE,
                 "synchformer": Path(folder) / SYNCHFORMER_FILE}
        # NaN/inf are checked below, on the device: on a CPU that check costs seconds per billion bf16 values
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
        if weights == "fp8":
            dit = load_fp8_dit(folder, size, dit_dtype, granularity, check_finite=False)
        else:
            dit = load_dit(paths["dit"], dit_dtype, size=size, check_finite=False)
        vae = load_vae(paths["vae"], torch.float32, check_finite=False)
        synchformer = load_synchformer(paths["synchformer"], torch.float32, check_finite=False)
        for hf_dir in (SIGLIP_DIR, CLAP_DIR):  # verify's header policy before transformers reads them
            check_hf_weights(Path(folder) / hf_dir)
        siglip = SiglipVisionEncoder.from_pretrained(str(Path(folder) / SIGLIP_DIR))
        clap = ClapTextEncoder.from_pretrained(str(Path(folder) / CLAP_DIR), dit.config.text_length)
        pipeline = cls(dit, vae, synchformer, siglip, clap, device=device, offload=offload)
        for name, path in paths.items():
            require_finite(getattr(pipeline, name), f"checkpoint {path}", pipeline.device)
        return pipeline

    @property
    def sample_rate(self) -> int:
        return self.vae.sample_rate

    @property
    def hop_length(self) -> int:
        return self.vae.hop_length

    @contextlib.contextmanager
    def _on_device(self, part):
        """``part`` on the device for one stage; back in CPU memory afterwards when offloading.

        The DiT moves as a whole only with ``offload=model``; with ``blocks`` its streamer
        brings blocks in step by step, and drops a prefetched block when sampling ends.
        """
        moves = self.offload.mode == "model" if part is self.dit else self.offload.parts_offloaded
        if moves:
            part.to(self.device)
        try:
            yield part
        finally:
            if part is self.dit and self.streamer is not None:
                self.streamer.finish()
            if moves:
                part.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def _autocast(self, dtype: torch.dtype):
        if self.device.type == "cpu" or dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ features

    @torch.no_grad()
    def encode_conditions(self, siglip_frames: np.ndarray, sync_frames: np.ndarray, prompt: str,
                          negative_prompt: str) -> Conditions:
        """Frames as uint8 (N, H, W, 3), already sampled and sized by the scheduler."""
        key = (prompt, negative_prompt)
        if self._text_cache is None or self._text_cache[0] != key:
            with self._on_device(self.clap) as clap:
                self._text_cache = (key, tuple(t.cpu() for t in clap(prompt, negative_prompt)))
        text, negative = self._text_cache[1]
        if siglip_frames.shape[0]:
            with self._on_device(self.siglip) as siglip:
                clip = siglip(siglip_frames)
        else:  # a window too short to hold one 8-fps frame: no visual semantics
            clip = self.dit.empty_clip_feat.detach().float().cpu()[None]
        with self._on_device(self.synchformer) as sync_model:
            sync = self._sync_features(sync_model, sync_frames)
        return Conditions(text, negative, clip.cpu(), sync.cpu())

    def _sync_features(self, model: Synchformer, frames: np.ndarray) -> torch.Tensor:
        need = model.config.segment_frames
        if frames.shape[0] == 0:
            return self.dit.empty_sync_feat.detach().float().cpu()[None].expand(1, model.config.frames_out, -1)
        if frames.shape[0] < need:  # windows under 16 frames: hold the last frame
            frames = np.concatenate([frames, np.repeat(frames[-1:], need - frames.shape[0], axis=0)])
        x = normalise_frames(frames, self.device, torch.float32)
        # The reference runs Synchformer under fp16 autocast on the GPU.
        with self._autocast(torch.float16):
            return model.encode_frames(x).float()

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def encode_audio(self, audio: np.ndarray) -> torch.Tensor:
        """(T, channels) float audio -> (1, C, K) latent means of its whole frames.

        The last EDGE_FRAMES frames are dropped: the encoder sees zeros past the
        end of the given audio, so their latents would not match a continuation.
        """
        mono = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).mean(dim=1)
        frames = mono.shape[0] // self.hop_length - EDGE_FRAMES
        if frames <= 0:
            return torch.zeros(1, self.dit.config.audio_latent_dim, 0)
        padded = torch.nn.functional.pad(mono, (0, (-mono.shape[0]) % self.hop_length))
        with self._on_device(self.vae) as vae:
            mean, _ = vae.encode(padded.to(self.device, vae.dtype)[None, None])
        return mean[:, :, :frames].float().cpu()

    @torch.no_grad()
    def sample(self, cond: Conditions, num_latents: int, seed: int, steps: int = DEFAULT_STEPS,
               guidance: float = DEFAULT_GUIDANCE, known: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Integrate the flow ODE from noise; returns (1, C, num_latents) float32 latents.

        ``known`` (1, C, K) holds latents for the first K frames (the overlap with
        the previous window); those frames follow that audio's flow path.
        """
        generator = torch.Generator("cpu").manual_seed(int(seed))
        channels = self.dit.config.audio_latent_dim
        # Noise is drawn on the CPU so a seed gives the same start on every device.
        noise = torch.randn((1, channels, num_latents), generator=generator, dtype=torch.float32)
        scheduler = make_scheduler(steps)
        use_cfg = guidance > 1.0
        with self._on_device(self.dit) as dit:
            dtype, dev = dit.dtype, self.device
            noise = noise.to(dev)
            text, clip, sync = cond.text.to(dev, dtype), cond.clip.to(dev, dtype), cond.sync.to(dev, dtype)
            if use_cfg:
                text = torch.cat([cond.negative_text.to(dev, dtype), text])
                clip = torch.cat([dit.empty_clip(1, clip.shape[1]).to(dtype), clip])
                sync = torch.cat([dit.empty_sync(1, sync.shape[1]).to(dtype), sync])
            k = 0 if known is None else min(known.shape[2], num_latents)
            known = None if k == 0 else known[:, :, :k].to(dev)
            latents = noise.clone()
            sigmas = scheduler.sigmas.to(dev)
            for i, t in enumerate(scheduler.timesteps):
                x = torch.cat([latents] * 2) if use_cfg else latents
                with self._autocast(dtype):
                    v = dit(x.to(dtype), t.to(dev).float().expand(x.shape[0]), text, clip, sync).float()
                if use_cfg:
                    uncond, conditional = v.chunk(2)
                    v = uncond + guidance * (conditional - uncond)
                latents = scheduler.step(v, t, latents, return_dict=False)[0].float()
                if known is not None:
                    s = sigmas[i + 1]
                    latents[:, :, :k] = s * noise[:, :, :k] + (1 - s) * known
        return latents.cpu()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, num_samples: int) -> np.ndarray:
        """(1, C, L) latents -> (num_samples,) float32 mono audio."""
        with self._on_device(self.vae) as vae:
            audio = vae.decode(latents.to(self.device, vae.dtype))
        audio = audio[0, 0, :num_samples].float().cpu().numpy()
        if audio.shape[0] < num_samples:  # cannot happen with whole latent frames; guards odd hops
            audio = np.pad(audio, (0, num_samples - audio.shape[0]))
        return audio

    def generate(self, siglip_frames: np.ndarray, sync_frames: np.ndarray, num_samples: int, prompt: str,
                 negative_prompt: str = DEFAULT_NEGATIVE_PROMPT, seed: int = 0, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, previous_audio: Optional[np.ndarray] = None) -> np.ndarray:
        """One window: exactly ``num_samples`` mono samples at ``sample_rate``."""
        cond = self.encode_conditions(siglip_frames, sync_frames, prompt, negative_prompt)
        num_latents = -(-num_samples // self.hop_length)
        known = self.encode_audio(previous_audio) if previous_audio is not None and len(previous_audio) else None
        latents = self.sample(cond, num_latents, seed, steps, guidance, known)
        return self.decode(latents, num_samples)
