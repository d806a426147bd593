"""``foley models download|verify mmaudio``: fetching the released files and checking an installed folder.

Downloading uses huggingface_hub (resumable, with its progress bars) or copies from a local folder laid
out the same way (``--from``: an offline mirror, or an MMAudio checkout's ``weights``/``ext_weights``).

Verifying reads only each file's index (names, dtypes, shapes; never the tensor bytes, never unpickling
objects) and compares it with our model code built on the meta device, under the same policy the
loader applies, with the hunyuan backend's reader and report (one policy for every neural backend).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Optional

from ...errors import BackendError
from ..hunyuan.checkpoints.index import TensorEntry, UnreadableIndex, read_index
from ..hunyuan.checkpoints.policy import CheckpointError, check, unwrap
from ..hunyuan.checkpoints.store import _copy_from
from ..hunyuan.checkpoints.verify import MISSING, PARTIAL, FileCheck, _find_partial, _summary, check_checkpoint
from .files import (
    BIGVGAN_16K_FILE, BIGVGAN_44K_DIR, BIGVGAN_44K_FILES, BIGVGAN_44K_REPO, CLIP_CONFIG, CLIP_DIR, CLIP_REPO,
    CLIP_WEIGHTS, HUB_REPO, MD5, SIZES, SYNCHFORMER_FILE, TOKENIZER_FILES, TOKENIZER_REPO, check_size, clip_weights,
    download_hint, missing, mmaudio_dir, mode_of, network_file, required,
)


# --------------------------------------------------------------------------- download


def download(size: str, models_dir: Optional[os.PathLike] = None, source: Optional[os.PathLike] = None,
             log: Callable[[str], None] = print) -> Path:
    """Fetch what ``size`` needs into ``<models>/mmaudio`` and return that folder (files present are kept)."""
    size = check_size(size)
    folder = mmaudio_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    todo = missing(folder, size)
    if not todo:
        log(f"MMAudio {size}: everything is already in {folder}")
        return folder
    for name in todo:
        log(f"fetching {name} ...")
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            _copy_from(Path(source), name, folder)
        elif name == BIGVGAN_44K_DIR:
            _hub_files(BIGVGAN_44K_REPO, BIGVGAN_44K_FILES, folder / name)
        elif name == CLIP_DIR:
            _hub_files(CLIP_REPO, (CLIP_CONFIG,), folder / name)
            _hub_first(CLIP_REPO, CLIP_WEIGHTS, folder / name)
            _hub_files(TOKENIZER_REPO, TOKENIZER_FILES, folder / name)
        else:
            _hub_files(HUB_REPO, (name,), folder)
    still = missing(folder, size)
    if still:
        raise BackendError(f"download finished but {', '.join(still)} is still missing in {folder}")
    log(f"MMAudio {size}: ready in {folder}")
    return folder


def _hub_files(repo: str, names, folder: Path) -> None:
    from huggingface_hub import hf_hub_download

    for name in names:
        if not (folder / name).is_file():
            hf_hub_download(repo_id=repo, filename=name, local_dir=folder)


def _hub_first(repo: str, names, folder: Path) -> None:
    """The first of ``names`` the repository has (safetensors before a pickle-based file)."""
    from huggingface_hub import list_repo_files

    have = set(list_repo_files(repo))
    for name in names:
        if name in have:
            return _hub_files(repo, (name,), folder)
    raise BackendError(f"{repo} has none of {', '.join(names)}")


# --------------------------------------------------------------------------- verify


def _meta_state(entries: dict) -> dict:
    """TensorEntry leaves -> meta tensors of the same shape and dtype (for the loaders' own renaming code)."""
    import torch

    return {k: torch.empty(v.shape, dtype=getattr(torch, v.dtype, torch.float32), device="meta")
            for k, v in entries.items()}


def _index(path: Path, result: FileCheck):
    """The file's index (or its unfinished download's), problems recorded in ``result``; None if unusable."""
    source = path
    if not path.is_file():
        source = _find_partial(path.parent, path.name)
        if source is None:
            result.problem("not there", MISSING)
            return None, None
        result.problem(f"still downloading: {source.name} has {source.stat().st_size / 1e9:.2f} GB", PARTIAL)
    try:
        index = read_index(source)
    except UnreadableIndex as exc:
        if "legacy" in str(exc) and source is path:  # an old torch format: only a weights_only load can read it
            result.notices.append("legacy torch file without an index: its tensors are checked when it loads")
            return None, source
        result.problem(f"unreadable: {exc}", PARTIAL if source is not path else "problem")
        return None, None
    if index.truncated:
        result.problem(f"cut short: {index.truncated}", PARTIAL)
    return index, source


def _compare(result: FileCheck, model, optional: tuple, state: dict, complete, notes) -> None:
    from .checkpoints import expected_of

    found = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    verdict = check(expected_of(model, optional), found, result.role, complete=complete)
    verdict.notes.extend(notes)
    for line in verdict.errors(incomplete=result.status != PARTIAL):
        result.problem(line)
    result.notices.extend(verdict.notices())


def _md5_notes(path: Path) -> list[str]:
    expected = MD5.get(path.name)
    if expected is None:
        return []
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(16 * 2**20), b""):
            digest.update(block)
    if digest.hexdigest() == expected:
        return ["MD5 equals the published sum"]
    return [f"MD5 {digest.hexdigest()} differs from the published {expected} (another version, or damaged)"]


def check_component(folder: Path, name: str, kind: str, role: str, size: Optional[str] = None,
                    hashes: bool = False, hint: str = "") -> FileCheck:
    """One released file (``kind``: network, vae, bigvgan16, bigvgan44, clip) against our model code."""
    from . import checkpoints as ck

    path = folder / name
    if kind == "bigvgan44":
        path = folder / name / BIGVGAN_44K_FILES[1]
    elif kind == "clip":
        path = clip_weights(folder) or folder / name / CLIP_WEIGHTS[0]
    result = FileCheck(name if kind not in ("bigvgan44", "clip") else name + "/", role)
    index, source = _index(path, result)
    if result.status == MISSING and hint:
        result.problems[-1] += f"; {hint}"
    if index is None:
        return result.finish()
    try:
        entries, notes = (ck.unwrap_bigvgan(index.root, role, lambda v: isinstance(v, TensorEntry))
                          if kind.startswith("bigvgan") else unwrap(index.root, lambda v: isinstance(v, TensorEntry), role))
        complete = [k for k, v in entries.items() if v.complete]
        state = _meta_state(entries)
        optional: tuple = ()
        if kind == "network":
            state, more = ck.drop_network_buffers(state)
            notes += more
            model = ck.network_model_for(state, size)
        elif kind == "vae":
            model, optional = ck.vae_model_for(state, mode_of(size).name), ck.VAE_OPTIONAL
        elif kind.startswith("bigvgan"):
            model = ck.bigvgan_model_for(ck.bigvgan_config_for(path, "16k" if kind == "bigvgan16" else "44k", state))
        else:
            model, state, complete = _clip_expected(folder / name, state, complete)
    except CheckpointError as exc:
        result.problem(str(exc))
        return result.finish()
    result.summary = _summary(entries)
    _compare(result, model, optional, state, complete, notes)
    if source is path and hashes:
        result.notices.extend(_md5_notes(path))
    return result.finish()


def _clip_expected(folder: Path, state: dict, complete: list):
    """CLIPModel on meta from the folder's config, and the file's tensors under CLIPModel's names."""
    import torch
    from transformers import CLIPModel

    from .models.clip import convert_open_clip_state, hf_config

    try:
        with open(folder / CLIP_CONFIG, encoding="utf-8") as fh:
            model_cfg = json.load(fh)["model_cfg"]
        with torch.device("meta"):
            model = CLIPModel(hf_config(model_cfg))
        converted = convert_open_clip_state(state)
    except FileNotFoundError:
        raise CheckpointError(f"no {CLIP_CONFIG}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"not an open_clip CLIP ({exc} missing or malformed)") from None
    missing_tok = [f for f in TOKENIZER_FILES if not (folder / f).is_file()]
    if missing_tok:
        raise CheckpointError(f"no tokenizer files {', '.join(missing_tok)}")
    # completeness is per file: any incomplete tensor marks every converted one as unverified
    whole = len(complete) == len(state)
    return model, converted, (list(converted) if whole else [])


def verify_folder(models_dir=None, size: Optional[str] = None, hashes: bool = False) -> tuple[Path, list[str], list]:
    """(folder, sizes checked, one FileCheck per file or folder) of ``<models>/mmaudio``."""
    folder = mmaudio_dir(models_dir)
    if size and size != "all":
        sizes = [check_size(size)]
    else:
        present = [s for s in SIZES if (folder / network_file(s)).is_file()]
        sizes = list(SIZES) if size == "all" else (present or [check_size(None)])
    checks, seen = [], set()
    for s in sizes:
        hint = f"fetch it with `{download_hint(s, models_dir)}`"
        for name in required(s):
            if name in seen:
                continue
            seen.add(name)
            if name == network_file(s):
                checks.append(check_component(folder, name, "network", f"flow network ({s})", s, hashes, hint))
            elif name == mode_of(s).vae_file:
                checks.append(check_component(folder, name, "vae", f"audio VAE ({mode_of(s).name})", s, hashes, hint))
            elif name == BIGVGAN_16K_FILE:
                checks.append(check_component(folder, name, "bigvgan16", "vocoder (16 kHz BigVGAN)", s, hashes, hint))
            elif name == BIGVGAN_44K_DIR:
                checks.append(check_component(folder, name, "bigvgan44", "vocoder (44.1 kHz BigVGAN-v2)", s, hashes, hint))
            elif name == SYNCHFORMER_FILE:
                checks.append(check_checkpoint(folder / name, "synchformer", "Synchformer", hint=hint))
                if hashes and (folder / name).is_file():
                    checks[-1].notices.extend(_md5_notes(folder / name))
            else:
                checks.append(check_component(folder, name, "clip", "CLIP (DFN5B ViT-H-14-384)", s, hashes, hint))
    return folder, sizes, checks
