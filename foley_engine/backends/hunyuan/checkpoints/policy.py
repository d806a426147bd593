"""The loading policy: which differences between a checkpoint and the model code are accepted.

Written once, used both by loading (real tensors) and by ``foley models
verify`` (tensor descriptions read from the file's index), so the two never
disagree.  Works on plain ``name -> (shape, dtype name)`` maps; no torch.

The rules (docs/hunyuan.md, "Loading policy"):

* missing tensors, other shapes, and parameters that are not
  bfloat16/float16/float32 are errors;
* an extra tensor is accepted, and listed, only when its first dotted name is
  not a module or parameter the model defines (``repa_proj.0.weight``: a
  training-only head; ``triple_blocks.3.foo.weight`` is an error), and only
  while all extras together stay small against the model;
* optional parts (the Synchformer's audio branch, the VAE encoder) may be
  absent as a whole; the loader then removes them from the model;
* wrappers are unwrapped as the reference does: a ``state_dict`` (or
  ``model_state`` / ``model`` / ``module``) entry holding the tensors, and a
  ``module.`` prefix on every name (a DataParallel save).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from ....errors import BackendError

FLOAT_DTYPES = ("bfloat16", "float16", "float32")
#: wrapper keys, in the order they are tried
WRAPPER_KEYS = ("state_dict", "model_state", "model", "module")
#: extras (training-only tensors) accepted up to this share of the model's values
EXTRAS_FRACTION = 0.01
#: names listed in a message before "(+N more)"
LIST_HEAD = 8


class CheckpointError(BackendError):
    """A checkpoint file that does not match the model code."""


def head(items: list, limit: int = LIST_HEAD) -> str:
    return ", ".join(str(i) for i in items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def unwrap(obj, is_tensor: Callable[[object], bool], what: str, layout: Optional[str] = None) -> tuple[dict, list[str]]:
    """The flat ``name -> tensor`` dict inside ``obj`` and notes on what was unwrapped.

    ``layout`` is the wrapper key of the released layout (the VAE's ``state_dict``): no note for it.
    """
    notes = []
    seen: set[int] = set()  # a crafted pickle can hold a dict that contains itself
    while isinstance(obj, dict) and obj and not all(is_tensor(v) for v in obj.values()):
        if id(obj) in seen or len(seen) >= len(WRAPPER_KEYS):
            raise CheckpointError(f"{what}: wrappers nested more than {len(WRAPPER_KEYS)} deep, or one that "
                                  f"contains itself: not a saved state dict")
        seen.add(id(obj))
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            odd = [f"{k} ({type(v).__name__})" for k, v in obj.items() if not is_tensor(v)]
            raise CheckpointError(f"{what}: no state dict found; entries that are not tensors: {head(odd)}")
        if key != layout:
            notes.append(f"tensors read from its {key!r} entry")
        layout = None  # only the outermost wrapper is the released one
        obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{what}: holds {type(obj).__name__}, not a dict of tensors")
    names = list(obj)
    if all(isinstance(k, str) and k.startswith("module.") for k in names):
        obj = {k[len("module."):]: v for k, v in obj.items()}
        notes.append("'module.' prefix removed from every name")
    return obj, notes


@dataclass(frozen=True)
class Expected:
    """What the model code defines: tensor name -> (shape, dtype name), its top-level names, optional parts."""

    tensors: dict
    defined: frozenset  # first dotted names of modules, parameters and buffers
    optional: tuple = ()  # top-level names that may be absent as a whole

    @property
    def values(self) -> int:
        return sum(_numel(shape) for shape, _ in self.tensors.values())


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _mb(values: int) -> str:
    return f"{values / 1e6:.1f} M values" if values >= 100_000 else f"{values:,} values"


@dataclass
class Verdict:
    """The differences between a file and the model, sorted into errors and accepted notices."""

    what: str
    missing: list = field(default_factory=list)
    shapes: list = field(default_factory=list)  # (name, file shape, model shape)
    dtypes: list = field(default_factory=list)  # (name, file dtype)
    inside: list = field(default_factory=list)  # extra names under a module the model defines
    extras: list = field(default_factory=list)  # extra names the model does not define at all
    extra_values: int = 0
    model_values: int = 0
    absent: list = field(default_factory=list)  # optional top-level parts not in the file
    incomplete: list = field(default_factory=list)  # tensors whose bytes are not all in the file (index only)
    notes: list = field(default_factory=list)

    @property
    def extras_over_budget(self) -> bool:
        return self.extra_values > EXTRAS_FRACTION * max(self.model_values, 1)

    @property
    def ok(self) -> bool:
        return not self.errors()

    def errors(self, incomplete: bool = True) -> list[str]:
        """One line per kind of error; ``incomplete=False`` leaves out tensors whose bytes are missing."""
        out = []
        if self.missing:
            out.append(f"{len(self.missing)} missing: {head(self.missing)}")
        if self.shapes:
            out.append(f"{len(self.shapes)} with other shapes: "
                       + head([f"{n} file {tuple(f)} vs model {tuple(m)}" for n, f, m in self.shapes]))
        if self.dtypes:
            out.append(f"{len(self.dtypes)} not bfloat16/float16/float32: "
                       + head([f"{n} ({d})" for n, d in self.dtypes]))
        if self.inside:
            out.append(f"{len(self.inside)} unexpected inside modules the model defines: {head(self.inside)}")
        if self.extras and self.extras_over_budget:
            out.append(f"{len(self.extras)} extra tensors the model does not define, {_mb(self.extra_values)} = "
                       f"{self._share()} of the model, more than the {EXTRAS_FRACTION:.0%} accepted as "
                       f"training-only leftovers: {head(self.extras)}")
        if self.incomplete and incomplete:
            out.append(f"{len(self.incomplete)} incomplete (bytes missing from the file): {head(self.incomplete)}")
        return out

    def notices(self) -> list[str]:
        out = list(self.notes)
        if self.extras and not self.extras_over_budget:
            out.append(f"ignoring {len(self.extras)} tensors the model does not use ({_mb(self.extra_values)}, "
                       f"{self._share()} of the model): {head(self.extras)}")
        if self.absent:
            out.append(f"without {', '.join(self.absent)} (not needed for generation; removed from the model)")
        return out

    def _share(self) -> str:
        return f"{100 * self.extra_values / max(self.model_values, 1):.2f}%"

    def message(self) -> str:
        """One line: every error, then the notices that help read them."""
        text = f"{self.what} does not match the model code; " + "; ".join(self.errors())
        notices = self.notices()
        return text + (f" (also: {'; '.join(notices)})" if notices else "")

    def raise_if_bad(self) -> None:
        if not self.ok:
            raise CheckpointError(self.message())


def check(expected: Expected, found: dict, what: str, complete: Optional[Iterable[str]] = None) -> Verdict:
    """Compare ``found`` (name -> (shape, dtype name)) with the model's ``expected`` tensors.

    ``complete``, when given, names the tensors whose bytes are all in the file.
    """
    v = Verdict(what, model_values=expected.values)
    present_tops = {name.split(".", 1)[0] for name in found}
    v.absent = [top for top in expected.optional if top not in present_tops]
    skip = tuple(f"{top}." for top in v.absent)
    for name, (shape, dtype) in expected.tensors.items():
        if name in v.absent or name.startswith(skip):
            continue
        if name not in found:
            v.missing.append(name)
            continue
        fshape, fdtype = found[name]
        if tuple(fshape) != tuple(shape):
            v.shapes.append((name, tuple(fshape), tuple(shape)))
        if dtype in FLOAT_DTYPES and fdtype not in FLOAT_DTYPES or dtype not in FLOAT_DTYPES and fdtype != dtype:
            v.dtypes.append((name, fdtype))
    for name, (shape, _dtype) in found.items():
        if name in expected.tensors:
            continue
        if name.split(".", 1)[0] in expected.defined:
            v.inside.append(name)
        else:
            v.extras.append(name)
            v.extra_values += _numel(shape)
    if complete is not None:
        done = set(complete)
        v.incomplete = [name for name in found if name not in done]
    return v
