"""Protocol attacks against a real engine process: nothing a local process sends takes it down."""
import json
import time

import pytest

from plugin_host.client import RequestRejected
from plugin_host.envelope import DELIMITER, MAX_JSON_DEPTH

from test_engine_backend import EngineProcess, exchange, make_clip, raw_socket


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine")).start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=2)


raw = raw_socket


def answer(sock, session, frames, timeout=5.0):  # hostile frames may take the engine a moment longer
    return exchange(sock, session, frames, timeout)


def alive(engine):
    assert engine.proc.poll() is None, engine.log()
    t = time.monotonic()
    assert engine.status()["status"] == "ok"
    return time.monotonic() - t


def signed(session, header_extra=None, content=b"{}", parent=b"{}"):
    header = json.dumps(dict(session.header("status"), **(header_extra or {}))).encode()
    return [DELIMITER, session.sign(header, parent, content), header, parent, content]


def test_unauthenticated_deep_nesting_is_answered_without_parsing(engine):
    sock, session = raw(engine)
    try:
        header = b"[" * 1100 + b"]" * 1100
        reply = answer(sock, session, [DELIMITER, b"0" * 64, header, b"{}", b"{}"])
        assert reply is not None and reply.content["field"] == "signature"
        assert reply.parent == {}  # nothing unsigned was read to address it
        deep = b"[" * 100_000 + b"]" * 100_000
        for frames in ([DELIMITER, b"x", deep, deep, deep], [DELIMITER, b"0" * 64, b"{}", b"{}", deep]):
            assert answer(sock, session, frames) is not None
    finally:
        sock.close()
    alive(engine)


def test_signed_deep_nesting_and_huge_numbers_are_refused(engine):
    sock, session = raw(engine)
    try:
        deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
        reply = answer(sock, session, signed(session, content=deep))
        assert reply.content["code"] == "json" and reply.content["field"] == "content"
        just_too_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
        reply = answer(sock, session, signed(session, parent=just_too_deep))
        assert reply.content["field"] == "parent_header" and "nested deeper" in reply.content["message"]
        # A verified header addresses the error reply.
        assert reply.parent_id
        # An integer of 5,000 digits, signed.
        reply = answer(sock, session, signed(session, content=b'{"n":' + b"9" * 5000 + b"}"))
        assert reply.content["code"] == "json"
    finally:
        sock.close()
    alive(engine)


@pytest.mark.parametrize("value", ["1e-4301", "1e-99999999", "1" * 5000, "9" * 19, "1/0", "inf", "nan", "1_000",
                                   "0x10", " 1e3 "])
def test_exact_numbers_have_a_bounded_grammar_on_the_wire(engine, clip, tmp_path, value):
    with engine.client() as eng:
        t = time.monotonic()
        with pytest.raises(RequestRejected) as info:
            eng.submit([{"media": clip, "start": value}], out_dir=str(tmp_path))
        assert info.value.field == "items[0].start"
        assert time.monotonic() - t < 2
        with pytest.raises(RequestRejected) as info:
            eng.submit([{"media": clip, "speed": value}], out_dir=str(tmp_path))
        assert info.value.field == "items[0].speed"
    assert alive(engine) < 1


def test_one_bad_message_never_ends_the_loop(engine, clip, tmp_path):
    sock, session = raw(engine)
    try:
        for frames in ([b""], [DELIMITER], [DELIMITER] * 5, [DELIMITER, b"", b"", b"", b""],
                       [DELIMITER, b"0" * 64, b"\xff\xfe", b"{}", b"{}"],
                       signed(session, {"date": "x" * 5000}), signed(session, {"msg_id": ["a"]}),
                       signed(session, content=b'{"items": [[[[]]]], "out_dir": 5}')):
            sock.send_multipart(frames)
        time.sleep(0.5)
    finally:
        sock.close()
    alive(engine)
    with engine.client() as eng:
        assert eng.submit([{"media": clip, "end": "1/2"}], out_dir=str(tmp_path)).wait()[0]["num_samples"] == 24000
