"""MMAudio's CLIP features (Apple's DFN5B-CLIP-ViT-H-14-384) through ``transformers``' CLIPModel.

Why transformers and not open_clip: the released weights are in open_clip's layout, but open_clip
imports torchvision, whose PyPI wheels pin a torch build of their own (on Linux a CUDA one with ~2 GB of
libraries), which the light CPU install and the tests cannot take; transformers is already what the
neural backends use, and its CLIP is the same network (pre-norm ViT and text transformer, QuickGELU,
class-token pooling).  The open_clip file is renamed tensor by tensor into CLIPModel's names (each
attention's fused ``in_proj`` split into q/k/v, the projections transposed) and loaded strictly: no
code from a hub runs, only the local ``open_clip_config.json`` and weights are read.

Features, as the reference computes them:

* video: frames at 8 fps, 384 x 384, normalised with OpenAI's CLIP mean/std -> the L2-normalised
  image embedding (1024) per frame;
* text: the CLIP BPE tokens (start, text, end, zero padding to 77) -> the text transformer's last
  hidden states after the final layer norm (77 x 1024), not pooled and not projected.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

#: OpenAI CLIP's normalisation (the reference's preprocessing for DFN5B)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 77


def hf_config(model_cfg: dict):
    """A transformers ``CLIPConfig`` equal to an open_clip ``model_cfg`` (ViT vision tower, QuickGELU)."""
    from transformers import CLIPConfig

    vision, text = model_cfg["vision_cfg"], model_cfg["text_cfg"]
    act = "quick_gelu" if model_cfg.get("quick_gelu", False) else "gelu"
    v_width = vision["width"]
    t_width = text["width"]
    return CLIPConfig(
        projection_dim=model_cfg["embed_dim"],
        vision_config=dict(hidden_size=v_width, intermediate_size=int(v_width * vision.get("mlp_ratio", 4.0)),
                           num_hidden_layers=vision["layers"], num_attention_heads=v_width // vision.get("head_width", 64),
                           image_size=vision["image_size"], patch_size=vision["patch_size"], hidden_act=act,
                           projection_dim=model_cfg["embed_dim"], layer_norm_eps=1e-5),
        text_config=dict(vocab_size=text.get("vocab_size", 49408), hidden_size=t_width,
                         intermediate_size=int(t_width * text.get("mlp_ratio", 4.0)), num_hidden_layers=text["layers"],
                         num_attention_heads=text["heads"], max_position_embeddings=text.get("context_length", 77),
                         hidden_act=act, projection_dim=model_cfg["embed_dim"], layer_norm_eps=1e-5,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=0),
    )


def _tower(prefix_in: str, prefix_out: str, state: dict, out: dict) -> None:
    """One open_clip transformer stack -> CLIPEncoder names."""
    i = 0
    while f"{prefix_in}.resblocks.{i}.ln_1.weight" in state:
        src, dst = f"{prefix_in}.resblocks.{i}", f"{prefix_out}.layers.{i}"
        for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"),
                     ("mlp.c_proj", "mlp.fc2"), ("attn.out_proj", "self_attn.out_proj")):
            out[f"{dst}.{b}.weight"] = state.pop(f"{src}.{a}.weight")
            out[f"{dst}.{b}.bias"] = state.pop(f"{src}.{a}.bias")
        for kind in ("weight", "bias"):
            q, k, v = state.pop(f"{src}.attn.in_proj_{kind}").chunk(3, dim=0)
            for name, t in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
                out[f"{dst}.self_attn.{name}.{kind}"] = t.contiguous()
        i += 1


def convert_open_clip_state(state: dict) -> dict:
    """open_clip CLIP tensor names -> transformers CLIPModel names.  Raises KeyError naming a missing tensor;
    tensors it does not know are passed through under their own names (the strict load then names them)."""
    state = dict(state)
    out = {
        "vision_model.embeddings.patch_embedding.weight": state.pop("visual.conv1.weight"),
        "vision_model.embeddings.class_embedding": state.pop("visual.class_embedding"),
        "vision_model.embeddings.position_embedding.weight": state.pop("visual.positional_embedding"),
        "vision_model.pre_layrnorm.weight": state.pop("visual.ln_pre.weight"),
        "vision_model.pre_layrnorm.bias": state.pop("visual.ln_pre.bias"),
        "vision_model.post_layernorm.weight": state.pop("visual.ln_post.weight"),
        "vision_model.post_layernorm.bias": state.pop("visual.ln_post.bias"),
        "visual_projection.weight": state.pop("visual.proj").t().contiguous(),
        "text_model.embeddings.token_embedding.weight": state.pop("token_embedding.weight"),
        "text_model.embeddings.position_embedding.weight": state.pop("positional_embedding"),
        "text_model.final_layer_norm.weight": state.pop("ln_final.weight"),
        "text_model.final_layer_norm.bias": state.pop("ln_final.bias"),
        "text_projection.weight": state.pop("text_projection").t().contiguous(),
        "logit_scale": state.pop("logit_scale"),
    }
    _tower("visual.transformer", "vision_model.encoder", state, out)
    _tower("transformer", "text_model.encoder", state, out)
    state.pop("attn_mask", None)  # open_clip's causal mask, saved by some versions: rebuilt by transformers
    out.update(state)
    return out


def _materialise_position_ids(model) -> None:
    """transformers keeps ``position_ids`` as unsaved buffers: built on the meta device they have no values;
    give them theirs (0 .. n-1).  Any other buffer left without values is an error."""
    for module_name, module in model.named_modules():
        for name, buf in list(module.named_buffers(recurse=False)):
            if not buf.is_meta:
                continue
            if name != "position_ids":
                raise RuntimeError(f"CLIP buffer {module_name}.{name} has no values after loading")
            module.register_buffer(name, torch.arange(buf.shape[-1]).expand(buf.shape).clone(), persistent=False)


class ClipTokens:
    """CLIP BPE tokenisation as open_clip does it: start token, text (lower-cased), end token, zeros after."""

    def __init__(self, tokenizer, context_length: int = CONTEXT_LENGTH):
        self.tokenizer = tokenizer
        self.context_length = context_length

    @classmethod
    def from_folder(cls, folder: os.PathLike) -> "ClipTokens":
        from transformers import CLIPTokenizer

        folder = Path(folder)
        return cls(CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")))

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.tokenizer(" ".join(text.lower().split()), add_special_tokens=True)["input_ids"]
            if len(ids) > self.context_length:  # keep the end token, as open_clip truncates
                ids = ids[: self.context_length - 1] + ids[-1:]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


class ClipEncoder:
    """Frame embeddings and prompt hidden states from one CLIPModel."""

    def __init__(self, model, tokens: ClipTokens, batch_size: int = 16):
        self.model = model.eval()
        self.tokens = tokens
        self.batch_size = batch_size

    @classmethod
    def from_folder(cls, folder: os.PathLike, tokenizer_folder: Optional[os.PathLike] = None) -> "ClipEncoder":
        """``folder`` holds ``open_clip_config.json`` and the weights; the tokenizer files (``vocab.json``,
        ``merges.txt``) sit in ``tokenizer_folder`` (default: ``folder``)."""
        from transformers import CLIPModel

        from ..checkpoints import load_checked_state, read_weights

        folder = Path(folder)
        with open(folder / "open_clip_config.json", encoding="utf-8") as fh:
            model_cfg = json.load(fh)["model_cfg"]
        with torch.device("meta"):
            model = CLIPModel(hf_config(model_cfg))
        what = f"CLIP weights in {folder}"
        state, notes = read_weights(folder, what)
        try:
            state = convert_open_clip_state(state)
        except KeyError as exc:
            from ..checkpoints import CheckpointError

            raise CheckpointError(f"{what}: not an open_clip CLIP state dict ({exc} is missing)") from None
        load_checked_state(model, state, what, notes=notes)
        _materialise_position_ids(model)
        return cls(model, ClipTokens.from_folder(tokenizer_folder or folder))

    @property
    def image_size(self) -> int:
        return self.model.config.vision_config.image_size

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.logit_scale.dtype

    def to(self, device) -> "ClipEncoder":
        self.model.to(device)
        return self

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) uint8 frames already sized -> (1, N, D) unit-norm image embeddings."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        return self.encode_pixels(x)[None]

    @torch.no_grad()
    def encode_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [0, 1] -> (N, D) unit-norm image embeddings."""
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(self.dtype)
        out = []
        for i in range(0, x.shape[0], self.batch_size):
            pooled = self.model.vision_model(pixel_values=x[i:i + self.batch_size]).pooler_output
            out.append(self.model.visual_projection(pooled))
        return F.normalize(torch.cat(out).float(), dim=-1)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Prompts -> (B, 77, D) last hidden states (after the final layer norm)."""
        return self.encode_tokens(self.tokens(texts))

    @torch.no_grad()
    def encode_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.text_model(input_ids=ids.to(self.device)).last_hidden_state.float()
