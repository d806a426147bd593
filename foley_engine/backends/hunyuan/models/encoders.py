"""Conditioning encoders through ``transformers``: SigLIP2 (vision) and CLAP (text).

Preprocessing matches how the released model was trained:

* SigLIP2 ``google/siglip2-base-patch16-512``: frames at 8 fps, resized
  (stretched) to 512 x 512, scaled to [0, 1] and normalised with mean = std
  = 0.5; one pooled 768-d embedding per frame (``get_image_features``).
* CLAP ``laion/larger_clap_general``: the negative and the positive prompt
  are tokenised *together* (padded to the longer one) and the text model's
  last hidden state (768-d per token, not the projected embedding) is cut to
  77 tokens.  CLAP sees the attention mask, the DiT's cross-attention does
  not: the padded positions' features are part of the condition, as in
  training.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch


def normalise_frames(images: np.ndarray, device, dtype) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) in [-1, 1] (mean = std = 0.5)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    return ((x - 0.5) / 0.5).to(dtype)


class SiglipVisionEncoder:
    """Per-frame SigLIP2 image embeddings."""

    def __init__(self, model, batch_size: int = 32):
        self.model = model.eval()
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, path: str) -> "SiglipVisionEncoder":
        """A local folder (or hub id) holding the transformers checkpoint; float32, as the reference runs it."""
        from transformers import AutoModel

        return cls(AutoModel.from_pretrained(path).float())

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    @property
    def image_size(self) -> int:
        """Square input size the vision tower was trained at (512 for the released encoder)."""
        cfg = self.model.config
        return int(getattr(getattr(cfg, "vision_config", cfg), "image_size", 512))

    def to(self, device):
        self.model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 frames -> (1, N, D) embeddings (float32)."""
        pixels = normalise_frames(images, self.device, self.dtype)
        out = []
        for i in range(0, pixels.shape[0], self.batch_size):
            feats = self.model.get_image_features(pixel_values=pixels[i: i + self.batch_size])
            # transformers < 5 returns the pooled tensor, >= 5 a model output whose pooler_output it is.
            out.append(feats if isinstance(feats, torch.Tensor) else feats.pooler_output)
        return torch.cat(out).float()[None]


class ClapTextEncoder:
    """CLAP text features for (negative, positive) prompts."""

    def __init__(self, model, tokenizer, max_tokens: int = 77):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    @classmethod
    def from_pretrained(cls, path: str, max_tokens: int = 77) -> "ClapTextEncoder":
        """A local folder (or hub id) with the CLAP checkpoint and its tokenizer; float32."""
        from transformers import AutoTokenizer, ClapTextModelWithProjection

        return cls(ClapTextModelWithProjection.from_pretrained(path).float(), AutoTokenizer.from_pretrained(path),
                   max_tokens)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def to(self, device):
        self.model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, prompt: str, negative_prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (positive, negative) features, each (1, L, D) float32 with L <= max_tokens."""
        limit: Optional[int] = getattr(self.tokenizer, "model_max_length", None)
        if limit is not None and limit > 100_000:  # "no limit" sentinel of some tokenizers
            limit = None
        tokens = self.tokenizer([negative_prompt, prompt], padding=True, truncation=limit is not None,
                                max_length=limit, return_tensors="pt").to(self.device)
        hidden = self.model(input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask")).last_hidden_state
        hidden = hidden[:, : self.max_tokens].float()
        return hidden[1:2], hidden[0:1]
