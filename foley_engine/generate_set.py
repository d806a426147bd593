"""One resolved item to its output SET: stems x takes, written together or not at all.

An item asking for ``stems`` or ``takes`` > 1 is generated as one pass per output (the
scheduler's spans of a derived request), each into a temp file beside its destination;
only when every pass and the loudness finishing are done are the files renamed into place,
together (:func:`~foley_engine.media.wav.commit_together`).  A cancel, an error or a
killed worker therefore leaves no file of the set (the temp files carry the writer's pid
and are swept by the next writer).

- takes: take ``n`` is the item with seed :func:`~foley_engine.job.take_seed` (take 1: the
  item's own seed, so its files are today's output);
- stems, ``Backend.stems == "native"``: the backend renders one class of the mix per pass
  (``WindowRequest.stem``); the stems of a take sum to its mix;
- stems, ``"passes"``: one generation per stem with the backend's class prompt and the
  other classes as the negative prompt (``Backend.stem_prompts``), seeded
  :func:`~foley_engine.job.stem_seed` (the take's seed, the stem);
- levels: one gain per take, measured on the sum of its stems (their balance stays the
  generator's), or each stem alone with ``loudness_per_stem``.  Edge fades follow the mix.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import numpy as np
import soundfile as sf

from plugin_host.items import Output

from .backends.base import STEMS_BY_PASSES, STEMS_NATIVE, Backend, loudness_target_of
from .errors import BackendError
from .job import ResolvedItem, stem_seed, take_seed
from .loudness import LoudnessMeter, Normalisation, edge_fade, sounds_at_edge
from .longform.scheduler import LongformScheduler, Progress, Span
from .media.wav import AtomicWavWriter, check_output_path, commit_together, pcm_codes


def check_stems(backend: Backend, stems: tuple) -> Optional[str]:
    """How ``backend`` makes ``stems`` ("native" or "passes"); BackendError in one line if it cannot."""
    if not stems:
        return None
    mode = getattr(backend, "stems", "none")
    if mode not in (STEMS_NATIVE, STEMS_BY_PASSES):
        raise BackendError(f"backend {backend.name!r} cannot make stems (it gives one mix and cannot generate a "
                           f"class alone); run without --stems")
    return mode


def pass_item(item: ResolvedItem, out: Output, backend: Backend, mode: Optional[str]) -> ResolvedItem:
    """The resolved item of one output's pass: its take's seed, and for stems by passes its class prompt."""
    request = item.request
    seed = take_seed(request.seed, out.take)
    fields = dict(seed=seed, stems=(), takes=1, loudness_per_stem=False)
    if out.stem and mode == STEMS_BY_PASSES:
        prompt, negative = backend.stem_prompts(request.prompt, request.negative_prompt, out.stem)
        fields.update(prompt=prompt, negative_prompt=negative, seed=stem_seed(seed, out.stem))
    return dataclasses.replace(item, request=dataclasses.replace(request, **fields))


def generate_set(item: ResolvedItem, backend: Backend, out_path: str, *, subtype: str,
                 scheduler: LongformScheduler, progress: Optional[Callable[[Progress], None]] = None,
                 cancel: Optional[Callable[[], bool]] = None, on_span: Optional[Callable[[Span], None]] = None,
                 pool=None) -> tuple[tuple[Output, ...], int, tuple[str, ...]]:
    """Write every output of ``item`` (named by ``Item.outputs(out_path)``); (outputs, windows, notes)."""
    request = item.request
    mode = check_stems(backend, request.stems)
    outputs = tuple(dataclasses.replace(o, path=os.path.abspath(o.path)) for o in request.outputs(out_path))
    for out in outputs:
        check_output_path(out.path, inputs=(request.media,))
    sr, channels, n = scheduler.sample_rate, backend.channels, item.num_samples
    # The set's default target by what the prompt holds (beds alone aim lower), and with
    # --loudness-per-stem each stem's by its own class: a background stem never goes to dialogue level.
    norm = Normalisation.for_job(request.loudness, request.true_peak,
                                 loudness_target_of(backend, request.prompt, request.negative_prompt))
    stem_norms = [Normalisation.for_job(request.loudness, request.true_peak,
                                        loudness_target_of(backend, request.prompt, request.negative_prompt, o.stem))
                  for o in outputs]
    windows, notes = 0, []
    passes: list[AtomicWavWriter] = []   # float temp files, one per output
    finals: list[AtomicWavWriter] = []   # what is renamed into place, together
    meters: list[Optional[LoudnessMeter]] = []
    try:
        for index, out in enumerate(outputs):
            writer = AtomicWavWriter(out.path, sr, channels, "FLOAT").open()
            passes.append(writer)
            meter = LoudnessMeter(sr, channels) if norm and request.loudness_per_stem else None
            meters.append(meter)
            sub = pass_item(item, out, backend, mode)
            for span in scheduler.spans(sub, progress=_scaled(progress, index, len(outputs), n), cancel=cancel,
                                        pool=pool, stem=out.stem if mode == STEMS_NATIVE and out.stem else None):
                writer.write(span.audio)
                if meter is not None:
                    meter.add(span.audio)
                windows += 1
                if on_span is not None and index == 0:
                    on_span(span)  # early placement: the first output's spans only
            assert writer.frames_written == n
            writer.close_partial()
            notes.extend(x for x in scheduler.notes if x not in notes)
        for take in sorted({o.take for o in outputs}):
            group = [i for i, o in enumerate(outputs) if o.take == take]
            # Without a target the files are the passes as they are (no gain, no fades, like a single mix).
            gain, fades = _set_level([passes[i].partial_path for i in group], sr, channels, norm) if norm \
                else (0.0, (False, False))
            gains = [stem_norms[i].gain_db(meters[i].integrated(), meters[i].true_peak()) if meters[i] else gain
                     for i in group]
            writers = [AtomicWavWriter(outputs[i].path, sr, channels, subtype).open() for i in group]
            finals.extend(writers)
            _finish_take([passes[i].partial_path for i in group], writers, gains, fades)
        commit_together(finals)
        return outputs, windows, tuple(notes)
    finally:
        for w in passes + finals:
            w.remove_partial()


def _set_level(paths: list[str], sr: int, channels: int, norm: Normalisation):
    """One gain for a take's stems, measured on their sum, and the mix's edge-fade decisions (start, end)."""
    meter = LoudnessMeter(sr, channels)
    fade_in = fade_out = False
    for done, total, mix in _chunks(paths):
        if done == 0:
            fade_in = sounds_at_edge(mix, sr, True)
        if done + mix.shape[0] == total:
            fade_out = sounds_at_edge(mix, sr, False)
        meter.add(mix)
    return norm.gain_db(meter.integrated(), meter.true_peak()), (fade_in, fade_out)


def _chunks(paths: list[str], block: int = 1 << 18, parts: bool = False):
    """(offset, total, sum) of the float files ``paths`` read in step (with ``parts``: the list)."""
    files = [sf.SoundFile(p) for p in paths]
    try:
        total, done = files[0].frames, 0
        while done < total:
            chunk = [f.read(min(block, total - done), dtype="float32", always_2d=True) for f in files]
            yield done, total, (chunk if parts else np.sum(chunk, axis=0, dtype=np.float32))
            done += chunk[0].shape[0]
    finally:
        for f in files:
            f.close()


def _finish_take(paths: list[str], writers: list[AtomicWavWriter], gains: list[float], fades: tuple) -> None:
    """Write one take's stems: gain, the mix's edge fades, and at 16/24 bits the sum of the stems'
    codes made equal to the code of their summed mix (each sample's rounding remainder goes to
    its loudest stem: at most a few LSB on a sound far above them; a silent stem stays silent)."""
    sr = writers[0].sample_rate
    scale = [np.float32(10 ** (g / 20)) for g in gains]
    integer = writers[0].subtype != "FLOAT"
    for done, total, chunk in _chunks(paths, parts=True):
        stems = [c * k for c, k in zip(chunk, scale)]
        for stem in stems:
            if done == 0:
                edge_fade(stem, sr, True, fades[0])
            if done + stem.shape[0] == total:
                edge_fade(stem, sr, False, fades[1])
        if not integer or len(stems) == 1:
            for w, stem in zip(writers, stems):
                w.write(stem) if not integer else w.write_pcm(pcm_codes(stem, w.subtype))
            continue
        codes = np.stack([pcm_codes(stem, writers[0].subtype) for stem in stems])
        want = pcm_codes(np.sum(stems, axis=0, dtype=np.float32), writers[0].subtype)
        loudest = np.abs(np.stack(stems)).argmax(axis=0)
        np.put_along_axis(codes, loudest[None], np.take_along_axis(codes, loudest[None], 0)
                          + (want - codes.sum(axis=0))[None], 0)
        for w, c in zip(writers, codes):
            w.write_pcm(c)


def _scaled(progress, index: int, passes: int, n: int):
    """The set's progress from one pass's: pass ``index`` of ``passes``, each ``n`` samples."""
    if progress is None:
        return None

    def report(p: Progress) -> None:
        progress(Progress(done_samples=index * n + p.done_samples, total_samples=passes * n,
                          windows_done=p.windows_done, windows_estimate=p.windows_estimate,
                          elapsed=p.elapsed))
    return report
