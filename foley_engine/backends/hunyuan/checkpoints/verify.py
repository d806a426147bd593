"""``foley models verify``: check an installed models folder without running the model.

Each checkpoint's index (names, dtypes, shapes; :mod:`.ckpt_index`) is
compared with the model code (built on the meta device) under the same
policy the loader applies (:mod:`.policy`), so "verify says ok" means "loads"
except for what only the data can show (NaN/inf values; checked when loading).
Files still downloading (huggingface_hub's ``.incomplete``, our ``.partial``)
and files cut short are indexed as far as they go and reported as partial.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from . import released
from .index import HF_SHARD_INDEXES, HF_WEIGHTS, TensorEntry, UnreadableIndex, read_index, shard_names, tensors_of
from .layout import (
    CLAP_DIR, DIT_FILES, FP8_FILES, HF_FOLDER_MARKER, SIGLIP_DIR, SYNCHFORMER_FILE, VAE_FILE, check_size, download_hint, hunyuan_dir,
)
from .fp8_copy import fp8_model_for
from .load import (
    DIT_OPTIONAL, SYNCHFORMER_OPTIONAL, VAE_LAYOUT, VAE_OPTIONAL, dit_model_for, synchformer_model_for, vae_model_for,
)
from .policy import CheckpointError, check, unwrap
from .state import expected_of

OK, NOTICE, PARTIAL, MISSING, PROBLEM = "ok", "ok*", "partial", "missing", "problem"
#: where an unfinished download of ``name`` lives inside the folder it is going to
PARTIAL_NAMES = (".cache/huggingface/download/{name}.incomplete", "{name}.partial")


@dataclass
class FileCheck:
    name: str
    role: str
    status: str = OK
    summary: str = ""
    problems: list = field(default_factory=list)
    notices: list = field(default_factory=list)

    def problem(self, text: str, status: str = PROBLEM) -> None:
        self.problems.append(text)
        if self.status in (OK, NOTICE) or status == PROBLEM:
            self.status = status

    def finish(self) -> "FileCheck":
        if self.status == OK and self.notices:
            self.status = NOTICE
        return self

    @property
    def ok(self) -> bool:
        return self.status in (OK, NOTICE)

    def to_dict(self) -> dict:
        return asdict(self)


def _find_partial(folder: Path, name: str) -> Optional[Path]:
    for pattern in PARTIAL_NAMES:
        path = folder / pattern.format(name=name)
        if path.is_file():
            return path
    return None


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def _summary(tensors: dict) -> str:
    values = sum(t.numel for t in tensors.values())
    dtypes = Counter(t.dtype for t in tensors.values())
    kinds = ", ".join(f"{d}" if len(dtypes) == 1 else f"{n} {d}" for d, n in dtypes.most_common())
    count = f"{values / 1e9:.3f} B" if values >= 1e8 else f"{values / 1e6:.2f} M"
    return f"{len(tensors)} tensors, {count} values, {kinds}"


# --------------------------------------------------------------------------- checkpoints


def _model_for(kind: str, root, state: dict, size: Optional[str], path: Path):
    if kind == "dit":
        return dit_model_for(state, size, path), DIT_OPTIONAL
    if kind == "dit_fp8":
        return fp8_model_for(state, size, path), DIT_OPTIONAL
    if kind == "vae":
        return vae_model_for(root, path), VAE_OPTIONAL
    return synchformer_model_for(state), SYNCHFORMER_OPTIONAL


def check_checkpoint(path: Path, kind: str, role: str, size: Optional[str] = None,
                     sha256: bool = False, hint: str = "") -> FileCheck:
    """Index ``path`` (or its unfinished download) and compare it with the model code."""
    result = FileCheck(path.name, role)
    source = path
    if not path.is_file():
        source = _find_partial(path.parent, path.name)
        if source is None:
            result.problem(f"not there{'; ' + hint if hint else ''}", MISSING)
            return result.finish()
        known = released.OFFICIAL.get(path.name, (None,))[0]
        of = f" of {_gb(known)}" if known else ""
        result.problem(f"still downloading: {source.relative_to(path.parent)} has {_gb(source.stat().st_size)}{of}",
                       PARTIAL)
    try:
        index = read_index(source)
    except UnreadableIndex as exc:
        result.problem(f"unreadable: {exc}", PARTIAL if source is not path else PROBLEM)
        return result.finish()
    if index.truncated:
        result.problem(f"cut short: {index.truncated}", PARTIAL)
    try:
        wrapper = VAE_LAYOUT if kind == "vae" else None
        state, notes = unwrap(index.root, lambda v: isinstance(v, TensorEntry), role, wrapper)
        model, optional = _model_for(kind, index.root, state, size, path)
    except CheckpointError as exc:
        result.problem(str(exc))
        return result.finish()
    found = {k: (v.shape, v.dtype) for k, v in state.items()}
    verdict = check(expected_of(model, optional), found, role,
                    complete=[k for k, v in state.items() if v.complete])
    verdict.notes.extend(notes)
    result.summary = _summary(state)
    cut = bool(index.truncated) or source is not path
    errors = verdict.errors(incomplete=not cut)  # a cut file: one line for its missing bytes, not a list
    if cut:
        done = len(state) - len(verdict.incomplete)
        result.summary += f"; {done} of {len(state)} complete so far"
    for line in errors:
        result.problem(line)
    result.notices.extend(verdict.notices())
    if source is path:
        result.notices.extend(released.size_notes(path))
        if sha256:
            result.notices.extend(released.sha256_notes(path))
    return result.finish()


# --------------------------------------------------------------------------- transformers folders


def check_hf_folder(folder: Path, role: str, needs_tokenizer: bool, hint: str = "") -> FileCheck:
    """A transformers folder: its config, every weight file whole, and (CLAP) its tokenizer."""
    result = FileCheck(folder.name + "/", role)
    if not folder.is_dir():
        result.problem(f"not there{'; ' + hint if hint else ''}", MISSING)
        return result.finish()
    if not (folder / HF_FOLDER_MARKER).is_file():
        result.problem(f"no {HF_FOLDER_MARKER}", PARTIAL)
    weights = _hf_weight_files(folder, result)
    if not weights:
        partial = [p.name for p in (folder / ".cache/huggingface/download").glob("*.incomplete")] \
            if (folder / ".cache/huggingface/download").is_dir() else []
        result.problem("no weights file" + (f" (still downloading: {', '.join(partial)})" if partial else ""), PARTIAL)
    tensors = {}
    for path in weights:
        try:
            index = read_index(path)
            tensors.update(tensors_of(index))
        except UnreadableIndex as exc:
            result.problem(f"{path.name} unreadable: {exc}")
            continue
        if index.truncated:
            result.problem(f"{path.name} cut short: {index.truncated}", PARTIAL)
    if tensors:
        result.summary = _summary(tensors)
    if needs_tokenizer and not ((folder / "tokenizer.json").is_file()
                                or (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()):
        result.problem("no tokenizer (tokenizer.json, or vocab.json + merges.txt)", PARTIAL)
    return result.finish()


def _hf_weight_files(folder: Path, result: FileCheck) -> list[Path]:
    for name in HF_SHARD_INDEXES:
        if (folder / name).is_file():
            try:
                shards = shard_names(folder / name)
            except UnreadableIndex as exc:
                result.problem(str(exc))
                return []
            gone = [s for s in shards if not (folder / s).is_file()]
            if gone:
                result.problem(f"shards not there yet: {', '.join(gone)}", PARTIAL)
            return [folder / s for s in shards if s not in gone]
    return [folder / name for name in HF_WEIGHTS[:1] if (folder / name).is_file()] or \
        [folder / name for name in HF_WEIGHTS[1:] if (folder / name).is_file()]


# --------------------------------------------------------------------------- the folder


def sizes_to_check(folder: Path, size: Optional[str]) -> list[str]:
    """The asked size; else every size whose DiT is there (or downloading); else the default size."""
    if size and size != "all":
        return [check_size(size)]
    present = [s for s, name in DIT_FILES.items()
               if (folder / name).is_file() or _find_partial(folder, name) is not None]
    return list(DIT_FILES) if size == "all" else (present or ["xxl"])


def verify_folder(models_dir=None, size: Optional[str] = None, sha256: bool = False) -> tuple[Path, list[str], list]:
    """(folder, sizes checked, one FileCheck per file or folder) of an installed models folder."""
    folder = hunyuan_dir(models_dir)
    sizes = sizes_to_check(folder, size)
    hint = f"fetch it with `{download_hint(sizes[0], models_dir)}`"
    checks = [check_checkpoint(folder / DIT_FILES[s], "dit", f"DiT ({s.upper()})", s, sha256,
                               f"fetch it with `{download_hint(s, models_dir)}`") for s in sizes]
    # The float8 copies are ours and optional: checked when present (or half-written), never asked for.
    checks += [check_checkpoint(folder / FP8_FILES[s], "dit_fp8", f"DiT ({s.upper()}) float8 copy", s)
               for s in sizes if (folder / FP8_FILES[s]).is_file() or _find_partial(folder, FP8_FILES[s])]
    checks.append(check_checkpoint(folder / VAE_FILE, "vae", "audio VAE", sha256=sha256, hint=hint))
    checks.append(check_checkpoint(folder / SYNCHFORMER_FILE, "synchformer", "Synchformer", sha256=sha256,
                                   hint=hint))
    checks.append(check_hf_folder(folder / SIGLIP_DIR, "SigLIP2 (visual)", False, hint))
    checks.append(check_hf_folder(folder / CLAP_DIR, "CLAP (text)", True, hint))
    return folder, sizes, checks


def format_report(folder: Path, sizes: list[str], checks: list, title: str = "HunyuanVideo-Foley") -> str:
    lines = [f"models folder: {folder}"]
    for c in checks:
        lines.append(f"  {c.name:<30} {c.status.upper():<8} {c.role}{': ' + c.summary if c.summary else ''}")
        lines += [f"      {p}" for p in c.problems]
        lines += [f"      notice: {n}" for n in c.notices]
    bad = [c for c in checks if not c.ok]
    sizes_text = "/".join(s.upper() for s in sizes)
    if bad:
        lines.append(f"{title} {sizes_text}: NOT ready, {len(bad)} of {len(checks)} items need attention "
                     f"({', '.join(c.name for c in bad)})")
    else:
        lines.append(f"{title} {sizes_text}: every file is complete and matches the model code")
    return "\n".join(lines)
