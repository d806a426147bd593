"""CPU time of one 8-s MMAudio window at full size, end to end and split by stage (float32).

    python benchmarks/mmaudio_cpu.py [--size small_16k] [--steps 25] [--full] [--json benchmarks/out/mmaudio_cpu.json]

Every component at its released size (flow network, VAE decoder, vocoder, the shared Synchformer, DFN5B
CLIP ViT-H-14-384) with random weights: speed does not depend on the weights' values, so no download is
needed.  One window: 64 CLIP frames (8 fps, 384 x 384), 200 Synchformer frames (25 fps, 224 x 224, 24
segments), the prompt and the empty negative prompt, 25 Euler steps with CFG (50 network evaluations),
VAE decode, vocoder, soxr to 48 kHz.  A short warm-up runs first (first-call allocations).

By default the repeated units are sampled and scaled: CLIP on 4 of the 64 frames (x16), Synchformer on
2 of the 24 segments (x12), the flow on 2 of the 25 steps (x12.5); each unit is an independent forward
pass of identical shape, so the time is linear in their count.  Text, VAE, vocoder and resampling run
whole.  ``--full`` runs the whole window in one call instead (about an hour on a busy 2-core machine).
Prints a table and writes JSON (with the machine's load average: a shared machine makes every figure an
upper bound).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from fractions import Fraction

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: the DFN5B-CLIP-ViT-H-14-384 open_clip configuration (the hub's open_clip_config.json "model_cfg")
DFN5B_CFG = dict(embed_dim=1024, quick_gelu=True,
                 vision_cfg=dict(image_size=384, layers=32, width=1280, head_width=80, patch_size=14),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=1024, heads=16, layers=24))


def _random(model, seed: int = 0):
    """Materialise a meta-built model with random values (positive where a scale must be)."""
    import torch

    model = model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith(("std", "weight_g")) or (t.ndim == 1 and name.endswith("weight")):
                t.copy_(1.0 + 0.05 * torch.rand(t.shape, generator=g))
            elif name.endswith("position_ids"):
                t.copy_(torch.arange(t.shape[-1]).expand(t.shape))
            elif t.is_floating_point():
                t.normal_(0.0, 0.02, generator=g)
    return model.eval()


class _FixedTokens:
    """Token ids of a typical prompt (the speed of the text tower does not depend on which ids)."""

    def __call__(self, texts):
        import torch

        out = torch.zeros(len(texts), 77, dtype=torch.long)
        for i, text in enumerate(texts):
            n = min(75, len(text.split()))
            out[i, 0] = 49406
            out[i, 1:n + 1] = torch.arange(400, 400 + n)
            out[i, n + 1] = 49407
        return out


def build(size: str):
    import torch
    from transformers import CLIPModel

    from foley_engine.backends.mmaudio.files import mode_of
    from foley_engine.backends.mmaudio.models.bigvgan import BigVGAN, BigVGANConfig
    from foley_engine.backends.mmaudio.models.clip import ClipEncoder, hf_config
    from foley_engine.backends.mmaudio.models.network import MMAudioNetwork, NetworkConfig
    from foley_engine.backends.mmaudio.models.vae import AudioVAE, VAEConfig
    from foley_engine.backends.mmaudio.pipeline import MMAudioPipeline
    from foley_engine.models.synchformer import Synchformer

    mode = mode_of(size)
    with torch.device("meta"):
        network = MMAudioNetwork(NetworkConfig.released(size))
        vae = AudioVAE(VAEConfig.released(mode.name))
        del vae.encoder  # generation decodes only
        vocoder = BigVGAN(BigVGANConfig.mmaudio_16k() if mode.name == "16k" else BigVGANConfig.v2_44k())
        synchformer = Synchformer()
        for part in ("afeat_extractor", "aproj", "vproj", "transformer"):  # training-only, never run
            delattr(synchformer, part)
        clip = CLIPModel(hf_config(DFN5B_CFG))
    network, vae, vocoder, synchformer, clip = (_random(m, i) for i, m in
                                                enumerate((network, vae, vocoder, synchformer, clip)))
    vae.fold_weight_norm()
    vocoder.fold_weight_norm()
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in
              (("network", network), ("vae_decoder", vae), ("vocoder", vocoder), ("synchformer", synchformer),
               ("clip", clip))}
    pipe = MMAudioPipeline(network, vae, vocoder, synchformer, ClipEncoder(clip, _FixedTokens()), mode, "cpu",
                           torch.float32)
    return pipe, counts


def frames(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def sampled(pipe, steps: int, guidance: float) -> tuple[dict, dict]:
    """Per-stage seconds of one 8-s window, the repeated units sampled and scaled (see the docstring)."""
    from foley_engine.backends.mmaudio.files import window_lengths

    lengths = window_lengths(Fraction(8), pipe.mode)
    clip_frames, sync_frames = frames(64, 384, 1), frames(200, 224, 2)
    t = pipe.timings
    text, negative = pipe.text_features("footsteps on a wooden floor", "")
    stages, units = {"text": t.text}, {}
    pipe.clip_features(clip_frames[:4], 4)
    stages["clip"], units["clip"] = t.clip * 16, "4 of 64 frames x16"
    pipe.sync_features(sync_frames[:24], 16)  # 2 segments
    stages["synchformer"], units["synchformer"] = t.synchformer * 12, "2 of 24 segments x12"
    # the flow's speed does not depend on the features' values: the learned empty features, full length
    clip = pipe.network.empty_clip_feat[None].expand(1, lengths.clip, -1)
    sync = pipe.network.empty_sync_feat[None].expand(1, lengths.sync, -1)
    latents = pipe.latents(clip, sync, text, negative, lengths, seed=1, steps=2, guidance=guidance)
    stages["flow"], units["flow"] = t.flow * steps / 2, f"2 of {steps} steps x{steps / 2:g}"
    audio = pipe.audio(latents)
    stages["vae"], stages["vocoder"] = t.vae, t.vocoder
    from foley_engine.backends.mmaudio.pipeline import resample_to_grid

    start = time.perf_counter()
    resample_to_grid(audio, pipe.sample_rate, 8 * 48000)
    stages["resample"] = time.perf_counter() - start
    return stages, units


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small_16k")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=4.5)
    parser.add_argument("--full", action="store_true", help="run the whole window in one call (slow)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "out", "mmaudio_cpu.json"))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    pipe, counts = build(args.size)
    built = time.perf_counter() - t0
    window = Fraction(8)
    n = int(window * 48000)
    # warm-up: a 1-s window (one CLIP frame held, one segment, 1 step): first-call allocations do not count
    pipe.generate(frames(1, 384, 3), frames(16, 224, 4), 48000, "footsteps", "", seed=0, steps=1,
                  guidance=args.guidance)
    if args.full:
        start = time.perf_counter()
        audio = pipe.generate(frames(64, 384, 1), frames(200, 224, 2), n, "footsteps on a wooden floor", "", seed=1,
                              steps=args.steps, guidance=args.guidance)
        total = time.perf_counter() - start
        assert audio.shape == (n,)
        stages, units = pipe.timings.as_dict(), {}
    else:
        stages, units = sampled(pipe, args.steps, args.guidance)
        total = sum(stages.values())
    stages = {k: round(v, 3) for k, v in stages.items()}
    rows = [("CLIP (64 frames, ViT-H/14 at 384)", stages["clip"]), ("Synchformer (24 segments)", stages["synchformer"]),
            ("text (CLIP text tower, 2 prompts)", stages["text"]),
            (f"flow network ({args.steps} steps x 2 with CFG)", stages["flow"]), ("VAE decoder", stages["vae"]),
            ("vocoder", stages["vocoder"]), ("resample to 48 kHz (soxr)", stages["resample"])]
    print(f"MMAudio {args.size}, one 8-s window, CPU float32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    keys = ("clip", "synchformer", "text", "flow", "vae", "vocoder", "resample")
    print(f"{'stage':<44} {'seconds':>9} {'share':>7}  measured")
    for key, (name, sec) in zip(keys, rows):
        print(f"{name:<44} {sec:>9.2f} {100 * sec / total:>6.1f}%  {units.get(key, 'whole')}")
    label = "end to end" if args.full else "end to end (sum of the stages)"
    print(f"{label:<44} {total:>9.2f}   (x{float(window) / total:.4f} real time)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    doc = {"size": args.size, "device": "cpu", "dtype": "float32", "window_seconds": float(window),
           "steps": args.steps, "guidance": args.guidance, "end_to_end_seconds": round(total, 3),
           "real_time_factor": round(float(window) / total, 4), "stages": stages,
           "sampled": units, "full_run": bool(args.full), "load_average": round(os.getloadavg()[0], 2),
           "parameters": counts,
           "build_seconds": round(built, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpus": os.cpu_count(), "machine": platform.machine(),
           "command": "python benchmarks/mmaudio_cpu.py" + (" --full" if args.full else "")}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
