"""The installed models folder: fetching the released files (hub or an offline mirror) and listing them."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from ....errors import BackendError
from .layout import (
    CLAP_DIR, CLAP_REPO, DIT_FILES, HF_PATTERNS, HUB_REPO, SIGLIP_DIR, SIGLIP_REPO, SYNCHFORMER_FILE, VAE_FILE,
    check_size, gib, hunyuan_dir, missing,
)


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
