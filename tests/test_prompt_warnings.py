"""Prompt words the backend does not know are reported, with the nearest words it does know."""
import json

from foley_engine.backends.procedural import ProceduralBackend
from foley_engine.cli import main
from foley_engine.generate import generate_to_file
from foley_engine.job import Job


def test_unknown_words_are_named_with_suggestions():
    lines = ProceduralBackend.prompt_warnings("bicycles passing, rian on a tin roof, footstep on gravle", "yawn")
    text = "\n".join(lines)
    assert "'bicycles'" in text and "'passing'" in text
    assert "'rian'" in text and "rain" in text.split("'rian'")[1].split("\n")[0]
    assert "'gravle'" in text and "gravel" in text.split("'gravle'")[1].split("\n")[0]
    assert any(line.startswith("negative prompt: 'yawn'") for line in lines)
    # Function words, weights and known words are not reported.
    assert "'on'" not in text and "'a'" not in text and "'tin'" not in text and "'roof'" not in text


def test_known_prompts_are_silent():
    for prompt in ("footsteps on wooden floor, door slams", "rain on a tin roof", "(metal impacts):0.5, room tone",
                   "city street, footsteps on cobbles", "glass breaks", "continuous wind"):
        # Only the note that footsteps follow motion (no pose model installed) may remain.
        lines = [w for w in ProceduralBackend.prompt_warnings(prompt) if "foley-engine[vision]" not in w]
        assert lines == [], prompt


def test_cli_warns_and_still_writes(clip_24, tmp_path, capsys):
    out = tmp_path / "w.wav"
    assert main(["generate", clip_24.path, "--prompt", "bicycles, rian", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert "foley: warning: prompt: 'bicycles'" in captured.err
    assert "rain" in captured.err.split("'rian'")[1].splitlines()[0]
    result = json.loads(captured.out)
    # two unknown words, and nothing known: the default plays
    assert len(result["warnings"]) == 3 and "default plays" in result["warnings"][2] and out.exists()


def test_result_carries_the_warnings_for_the_engine(clip_24, tmp_path):
    job = Job(clip_24.path, None, None, "wood impacts, bicycles", "", 0)
    result = generate_to_file(job, ProceduralBackend(), str(tmp_path / "e.wav"))
    assert [w for w in result.to_dict()["warnings"] if "'bicycles'" in w]


def test_backends_vocabulary(capsys):
    assert main(["backends", "--vocabulary"]) == 0
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert " rain " in lines["procedural"] and " footsteps " in lines["procedural"]
    assert main(["backends", "--vocabulary", "--json"]) == 0
    words = json.loads(capsys.readouterr().out)
    assert "gravel" in words["procedural"]


def test_engine_results_carry_the_warnings_to_every_adapter(clip_24, engines, tmp_path):
    """Through a real engine: the batch runner's results (what OTIO, Resolve and Blender read) have them."""
    from fractions import Fraction

    from otio_adapters.engine import EngineGenerator
    from otio_adapters.generator import Request
    from plugin_host.batch import BatchRunner
    from plugin_host.items import Item

    eng = engines(tmp_path / "engine", backend="procedural")
    with eng.client() as client:
        outcome = BatchRunner(client, str(tmp_path)).run(
            [Item(clip_24.path, Fraction(0), Fraction(2), prompt="wood impacts, bicycles")])
    (done,) = outcome.done
    assert [w for w in done.result.warnings if "'bicycles'" in w]
    request = Request("k", clip_24.path, Fraction(0), Fraction(2), prompt="rian on a roof", label="V1 clip")
    (result,) = EngineGenerator(eng.connection_file, autostart=False).run([request], str(tmp_path / "otio"))
    assert result.ok and [w for w in result.warnings if "'rian'" in w]


def test_hints_go_by_meaning_not_spelling():
    """`tyres` was offered `trees` (a forest bed) and `brakes` `breaks` (glass): hints now go by sound."""
    lines = ProceduralBackend.prompt_warnings("tyres screeching, brakes")
    hints = {line.split("'")[1]: line.split(": ", 2)[-1] for line in lines if line.count("'") >= 2}
    assert "car" in hints["tyres"] and "traffic" in hints["tyres"] and "trees" not in hints["tyres"]
    assert "car" in hints["brakes"] and "breaks" not in hints["brakes"] and "glass" not in hints["brakes"]
    assert all("closest in sound" in line for line in lines if "'tyres'" in line or "'brakes'" in line)
    # A typo still gets its spelling neighbour.
    assert any("'rian'" in line and "did you mean: rain" in line for line in ProceduralBackend.prompt_warnings("rian"))


def test_the_meaning_table_suggests_only_known_words_for_unknown_ones():
    from foley_engine.backends.procedural.meanings import MEANINGS
    from foley_engine.backends.procedural.vocabulary import parse_prompt, recognises

    for word, known in MEANINGS.items():
        assert not recognises(word), f"{word!r} is known: it needs no hint"
        assert known and recognises(" ".join(known)), (word, known)
        assert parse_prompt(" ".join(known)) != parse_prompt(""), (word, known)


def test_a_prompt_with_nothing_known_says_the_default_plays():
    (note,) = [w for w in ProceduralBackend.prompt_warnings("xyzzy plugh") if "default" in w]
    assert note.startswith("prompt: no word of it is known, so the default plays: quiet room tone")
    for prompt in ("", "rain, xyzzy", "footsteps"):
        assert not [w for w in ProceduralBackend.prompt_warnings(prompt) if "default plays" in w], prompt
