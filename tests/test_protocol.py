"""The wire protocol without sockets: signing, framing, replay, schemas, the connection file."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest

from plugin_host.connection import read_connection_file
from plugin_host.envelope import DELIMITER, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ReplayGuard, Session
from plugin_host.fields import ProtocolError, parse_exact
from plugin_host.schema import check_request

KEY = b"k" * 64


def frames_for(msg_type="status", content=None, key=KEY):
    frames, header = Session(key).serialize(msg_type, content or {})
    return frames, header


def error_of(fn, *args):
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    return info.value


def test_round_trip_keeps_ids_and_parent():
    session = Session(KEY)
    frames, header = session.serialize("status", {})
    msg = session.deserialize([b"client-id"] + frames)
    assert msg.msg_type == "status" and msg.identities == [b"client-id"] and msg.msg_id == header["msg_id"]
    reply_frames, _ = session.serialize("status_reply", {"status": "ok"}, parent=msg.header)
    assert session.deserialize(reply_frames).parent_id == header["msg_id"]
    assert header["version"] == PROTOCOL_VERSION


def test_signature_covers_every_frame():
    frames, _ = frames_for("submit", {"items": []})
    for i in (2, 3, 4):  # header, parent, content
        tampered = list(frames)
        tampered[i] = tampered[i].replace(b"}", b" }", 1)
        assert error_of(Session(KEY).deserialize, tampered).field == "signature"
    assert error_of(Session(b"other" * 8).deserialize, frames).code == "signature"


@pytest.mark.parametrize("frames, field", [
    ([b"\x00garbage" * 3], "frames"),
    ([DELIMITER, b"sig", b"{}"], "frames"),
    ([DELIMITER, b"a", b"b", b"c", b"d", b"e"], "frames"),
])
def test_malformed_frames_name_the_problem(frames, field):
    assert error_of(Session(KEY).deserialize, frames).field == field


def test_signed_but_broken_json_and_header():
    session = Session(KEY)
    h, p, c = b"not json", b"{}", b"{}"
    assert error_of(session.deserialize, [DELIMITER, session.sign(h, p, c), h, p, c]).field == "header"
    h = json.dumps({"msg_id": "x", "msg_type": "status", "session": "s", "date": "now", "version": "1.0"}).encode()
    assert error_of(session.deserialize, [DELIMITER, session.sign(h, p, c), h, p, c]).field == "header.date"
    h = json.dumps({"msg_id": "x", "msg_type": "status", "session": "s",
                    "date": datetime.now(timezone.utc).isoformat(), "version": "2.0"}).encode()
    err = error_of(session.deserialize, [DELIMITER, session.sign(h, p, c), h, p, c])
    assert err.code == "version" and err.field == "header.version"
    c = b'{"x": NaN}'
    h = json.dumps({"msg_id": "x", "msg_type": "status", "session": "s",
                    "date": datetime.now(timezone.utc).isoformat(), "version": "1.0"}).encode()
    assert error_of(session.deserialize, [DELIMITER, session.sign(h, p, c), h, p, c]).field == "content"


def test_oversized_message_refused():
    session = Session(KEY)
    frames, _ = session.serialize("status", {"pad": "x" * (MAX_MESSAGE_BYTES + 1)})
    assert error_of(session.deserialize, frames).code == "size"


def test_replay_guard_refuses_repeats_and_stale_messages():
    guard = ReplayGuard(window=300)
    _, header = frames_for()
    guard.check(header)
    assert error_of(guard.check, header).field == "header.msg_id"
    old = dict(header, msg_id="other", date=(datetime.now(timezone.utc) - timedelta(seconds=301)).isoformat())
    assert error_of(guard.check, old).field == "header.date"
    future = dict(header, msg_id="later", date=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat())
    assert error_of(guard.check, future).field == "header.date"
    # Remembered ids expire with the window, so memory stays bounded.
    guard.check(dict(header, msg_id="fresh"), now=time.time())
    guard.check(dict(header, msg_id="fresh2"), now=time.time() + 299)
    assert len(guard._seen) <= 3


def test_times_and_speeds_are_exact_strings():
    assert parse_exact("1001/30000", "t") == Fraction(1001, 30000)
    assert parse_exact("12.5", "t") == Fraction(25, 2)
    assert parse_exact(3, "t") == 3
    assert "not floats" in str(error_of(parse_exact, 12.5, "items[0].start"))
    assert error_of(parse_exact, "twelve", "items[0].start").field == "items[0].start"
    assert error_of(parse_exact, "-1", "items[0].start").code == "range"
    assert error_of(parse_exact, "1/0", "x").field == "x"
    assert error_of(parse_exact, True, "x").field == "x"


def submit(**item):
    return {"items": [dict({"media": "/m.mp4"}, **item)], "out_dir": "/tmp"}


@pytest.mark.parametrize("content, field", [
    ({"out_dir": "/tmp"}, "items"),
    ({"items": [], "out_dir": "/tmp"}, "items"),
    ({"items": [{"media": "/m.mp4"}]}, "out_dir"),
    ({"items": [{"media": "/m.mp4"}], "out_dir": "relative"}, "out_dir"),
    (submit(start="5", end="2"), "items[0].end"),
    (submit(start="-1"), "items[0].start"),
    (submit(end="soon"), "items[0].end"),
    (submit(prompt="x" * 10_000_000), "items[0].prompt"),
    (submit(seed=-3), "items[0].seed"),
    (submit(speed="0"), "items[0].speed"),
    (submit(speed=0.5), "items[0].speed"),
    (submit(seed="7"), "items[0].seed"),
    (submit(format="mp3"), "items[0].format"),
    (submit(options={"nested": {"a": 1}}), "items[0].options.nested"),
    (submit(record_start="x" * 5000), "items[0].record_start"),
    (submit(colour="red"), "items[0].colour"),
    ({"items": [{"prompt": "no media"}], "out_dir": "/tmp"}, "items[0].media"),
    ({"items": ["just a string"], "out_dir": "/tmp"}, "items[0]"),
])
def test_submit_schema_names_the_bad_field(content, field):
    assert error_of(check_request, "submit", content).field == field


def test_submit_normalises_times_and_keeps_opaque_fields():
    out = check_request("submit", submit(start="12.50", end=20, record_start={"frame": 86400, "rate": "24"},
                                         seed=7, options={"steps": 25, "cfg": 4.5}, speed="1.25"))
    item = out["items"][0].to_wire()  # typed once; its wire form is the normalised one
    assert item["start"] == "25/2" and item["end"] == "20" and item["seed"] == 7 and item["speed"] == "5/4"
    assert item["record_start"] == {"frame": 86400, "rate": "24"} and item["options"]["cfg"] == 4.5


def test_other_requests():
    assert error_of(check_request, "launch", {}).field == "header.msg_type"
    assert error_of(check_request, "cancel", {"job_id": "../etc"}).field == "job_id"
    assert error_of(check_request, "status", {"verbose": True}).field == "verbose"
    assert check_request("job", {"job_id": "ab12", "watch": True}) == {"job_id": "ab12", "watch": True, "since": 0}
    assert error_of(check_request, "jobs", {"state": "lost"}).field == "state"


def test_connection_file_round_trip(tmp_path):
    from foley_engine.engine.connection import ConnectionFile, EngineAlreadyRunning

    path = str(tmp_path / "run" / "engine.json")
    first = ConnectionFile(path)
    first.claim()
    first.write("tcp://127.0.0.1:5555", "ab" * 32)
    assert os.stat(path).st_mode & 0o777 == 0o600
    info = read_connection_file(path)
    assert info.endpoint == "tcp://127.0.0.1:5555" and info.pid == os.getpid() and info.version == PROTOCOL_VERSION
    # flock locks belong to the open file description, so a second claim in this process is refused too.
    with pytest.raises(EngineAlreadyRunning, match="already running"):
        ConnectionFile(path).claim()
    first.release()
    assert not os.path.exists(path)


def test_output_names_are_derived_not_taken_from_clients(tmp_path):
    from foley_engine.engine.outputs import output_name, remove_partials

    name = output_name("/x/../My Clip (final)?.mov", Fraction(1001, 30000), Fraction(25, 2), "0123456789abcdef", 3)
    assert name == "My_Clip_final_0s033-12s500_01234567_003.wav"
    assert output_name("/x/.hidden", Fraction(0), Fraction(1), "ab" * 8, 0).startswith("hidden_")
    target = tmp_path / name
    (tmp_path / f".{name}.abc123.partial").write_bytes(b"RIFF")
    (tmp_path / "keep.wav").write_bytes(b"RIFF")
    assert len(remove_partials(str(target))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_client_imports_fast_without_numpy_or_torch():
    # CPU time, best of three: wall time on a busy 2-core test machine measures the neighbours.
    code = ("import sys, time; t = time.process_time(); import plugin_host.client; "
            "print(time.process_time() - t); print(sorted(m for m in ('numpy', 'torch', 'foley_engine', 'av') "
            "if m in sys.modules))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
            for _ in range(3)]
    assert min(float(out[0]) for out in runs) < 0.3
    assert all(out[1] == "[]" for out in runs)


def test_an_item_checks_itself_when_made_whoever_builds_it():
    from plugin_host.items import Item

    item = Item("/a.mov", 1, Fraction(5, 2), loudness=-23)  # ints become Fractions, loudness is text
    assert item.start == Fraction(1) and isinstance(item.start, Fraction) and item.loudness == "-23"
    for kwargs, field, words in (
            (dict(start=Fraction(3), end=Fraction(1)), "end", "not after start"),
            (dict(start=1.5), "start", "exact number"),
            (dict(speed=Fraction(0)), "speed", "positive"),
            (dict(prompt="x" * 2001), "prompt", "the limit is 2000"),
            (dict(seed=-1), "seed", "between"),
            (dict(format="mp3"), "format", "one of"),
            (dict(motion="optical"), "motion", "one of"),
            (dict(options={"steps": [1]}), "options.steps", "scalar"),
            (dict(record_start={"x": "y" * 2000}), "record_start", "bytes of JSON"),
            (dict(true_peak=3.0), "true_peak", "between")):
        with pytest.raises(ProtocolError) as info:
            Item("/a.mov", **kwargs)
        assert info.value.field == field and words in info.value.message, (kwargs, info.value)
    with pytest.raises(ProtocolError, match="media: is empty"):
        Item("")


def test_wire_errors_name_the_field_inside_the_submit():
    from plugin_host.items import Item

    with pytest.raises(ProtocolError) as info:
        Item.from_wire({"media": "/a.mov", "start": "3", "end": "1"}, "items[2]")
    assert info.value.field == "items[2].end" and str(info.value) == "items[2].end: end 1 is not after start 3"
    with pytest.raises(ProtocolError, match=r"^items\[0\]\.start: give exact values"):
        Item.from_wire({"media": "/a.mov", "start": 1.5}, "items[0]")
    # An older client's alignment switch among the backend options still reaches the typed field.
    old = Item.from_wire(Item("/a.mov", Fraction(1, 3), 2, options={"align": "yes"}).to_wire())
    assert old.align is True and old.options == {}
