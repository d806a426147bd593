"""The procedural backend: instant, deterministic, physically inspired Foley (see docs/procedural.md)."""
from .backend import ProceduralBackend, render
from .vocabulary import KINDS, parse_prompt

__all__ = ["ProceduralBackend", "KINDS", "parse_prompt", "render"]
