"""Fuzzing a real engine (hypothesis, bounded): random frames, random nested JSON, random signed item fields.

Afterwards the engine must still answer ``status`` and complete a normal job.  Every signed request
must be answered (with a reply or an error reply) within a few seconds: no message may stall the loop.
"""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin_host.envelope import DELIMITER

from test_engine_backend import EngineProcess, make_clip, raw_socket

FUZZ = settings(max_examples=120, deadline=None, derandomize=False, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine")).start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=1)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def wire(engine):
    sock, session = raw_socket(engine)
    yield sock, session
    sock.close()


def drain(sock, wait_ms=0):
    """Read what the engine sent; True if anything came within ``wait_ms``."""
    got = False
    while sock.poll(wait_ms):
        sock.recv_multipart()
        got = True
        wait_ms = 0
    return got


json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | \
    st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=25)
deep = st.integers(1, 50_000).map(lambda n: "[" * n + "]" * n)
numbers = st.one_of(st.text(alphabet="0123456789.-+/eE_:; xinfa", max_size=40), st.integers(-2**80, 2**80),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
                        ["1e-4301", "1e-99999999", "9" * 5000, "0", "1/3", "00:00:01:00", "1/0", "-0", ".5", "5."]))


@FUZZ
@given(frames=st.lists(st.binary(max_size=300) | st.just(DELIMITER) | deep.map(str.encode), max_size=7))
def test_random_frames(wire, frames):
    sock, _ = wire
    sock.send_multipart(frames or [b""])
    drain(sock)


@FUZZ
@given(part=st.sampled_from(["header", "parent", "content"]), value=json_values | deep, sign=st.booleans())
def test_random_nested_json(wire, part, value, sign):
    sock, session = wire
    header = session.header("status")
    parts = {"header": json.dumps(header), "parent": "{}", "content": "{}"}
    parts[part] = value if isinstance(value, str) and value.startswith("[") else json.dumps(value)
    h, p, c = (parts[k].encode() for k in ("header", "parent", "content"))
    sock.send_multipart([DELIMITER, session.sign(h, p, c) if sign else b"0" * 64, h, p, c])
    assert drain(sock, 5000), "no answer within 5 s"


item_fields = st.fixed_dictionaries({}, optional={
    "media": st.sampled_from(["CLIP", "/nonexistent.mp4", "relative.mp4", "", "/dev/zero", "/"]) | st.text(max_size=20),
    "start": numbers, "end": numbers, "speed": numbers,
    "prompt": st.text(max_size=50) | st.integers(), "negative_prompt": st.text(max_size=10),
    "seed": st.integers(-2**40, 2**70) | st.text(max_size=5),
    "options": st.dictionaries(st.text(max_size=8), json_scalars, max_size=3) | json_values,
    "format": st.sampled_from(["pcm24", "pcm16", "float", "mp3", ""]), "align": json_scalars,
    "record_start": json_values, "bogus": json_scalars,
})


@FUZZ
@given(items=st.lists(item_fields, min_size=0, max_size=3),
       out=st.sampled_from(["OUT", "/etc", "/nonexistent", "relative", "/dev/null"]),
       msg_type=st.sampled_from(["submit", "submit", "submit", "cancel", "job", "jobs", "status", "hello"]))
def test_random_signed_item_fields(wire, clip, out_dir, items, out, msg_type):
    sock, session = wire
    for item in items:
        if item.get("media") == "CLIP":
            item["media"] = clip
    content = {"items": items, "out_dir": out_dir if out == "OUT" else out}
    if msg_type != "submit":
        content = {"job_id": items[0].get("prompt", "x") if items else "0" * 32} if msg_type in ("cancel", "job") \
            else {}
    # Signed by hand: the client's serializer would refuse NaN and infinities, a hostile sender does not.
    h, p, c = json.dumps(session.header(msg_type)).encode(), b"{}", json.dumps(content).encode()
    sock.send_multipart([DELIMITER, session.sign(h, p, c), h, p, c])
    assert drain(sock, 5000), "no answer within 5 s"


#: per case: the engine answers within this many seconds and grows by at most this much memory
FRAME_CASE_SECONDS = 10
FRAME_CASE_GROWTH = 256 * 2**20


@settings(FUZZ, max_examples=25)
@given(count=st.integers(0, 300_000), size=st.integers(0, 4 * 2**20), where=st.sampled_from(["before", "after"]),
       sign=st.booleans())
def test_multipart_frame_counts_and_sizes(engine, wire, count, size, where, sign):
    """Many frames, large frames, before or after a (signed or unsigned) message: the whole message is
    bounded before anything else, so each case is answered in bounded time and memory."""
    from foley_engine.engine.memory import process_rss

    sock, session = wire
    count = min(count, (64 * 2**20) // max(size, 1))  # this side's memory: at most 64 MiB on the wire
    header = json.dumps(session.header("status")).encode()
    body = [DELIMITER, session.sign(header, b"{}", b"{}") if sign else b"0" * 64, header, b"{}", b"{}"]
    extra = [b"x" * size] * count
    baseline = process_rss(engine.proc.pid)
    started = time.monotonic()
    sock.send_multipart(extra + body if where == "before" else body + extra)
    assert drain(sock, FRAME_CASE_SECONDS * 1000), f"no answer within {FRAME_CASE_SECONDS} s"
    assert time.monotonic() - started < FRAME_CASE_SECONDS
    grown = process_rss(engine.proc.pid) - baseline
    assert grown < FRAME_CASE_GROWTH, f"the engine grew by {grown / 2**20:.0f} MiB"


def test_still_answers_and_completes_a_job_afterwards(engine, clip, tmp_path):
    # Runs after the fuzzers in this module (pytest keeps file order).
    assert engine.proc.poll() is None, engine.log()
    with engine.client(timeout=10) as eng:
        t = time.monotonic()
        assert eng.status()["status"] == "ok"
        assert time.monotonic() - t < 2
        result = eng.submit([{"media": clip, "end": "1/2"}], out_dir=str(tmp_path)).wait(timeout=60)[0]
    assert result["num_samples"] == 24000
    assert "Traceback" not in engine.log()
