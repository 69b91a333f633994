"""The protocol models: Params validation, command parsing, the generated TypeScript types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from chordial.conductor.protocol import COMMAND, Params, StepCommand, one_line_validation, parse_id, position
from chordial.conductor.world import decode_value, encode_value, event_view, fingers_view

ROOT = Path(__file__).resolve().parents[2]


def test_generated_typescript_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_ts_types.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = (ROOT / "web" / "src" / "protocol.ts").read_text()
    assert "export type ServerMessage = Snapshot | Delta | Stats | StatusMessage | Result | ErrorMessage;" in text
    assert "export interface Params {" in text and "args?: Partial<Params>;" in text


def test_check_mode_fails_when_stale(tmp_path: Path) -> None:
    stale = tmp_path / "protocol.ts"
    stale.write_text("// old\n")
    script = str(ROOT / "scripts" / "gen_ts_types.py")
    run = [sys.executable, script, "--check", "--output", str(stale)]
    assert subprocess.run(run, capture_output=True, timeout=60, check=False).returncode == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nodes": 0}, "nodes"),
        ({"nodes": 100, "id_bits": 6}, "do not fit"),
        ({"replicas": 6, "successors": 4}, "replicas"),
        ({"world": "live", "nodes": 1001}, "live world"),
        ({"workload_rate": 1, "mix_get": 0, "mix_put": 0}, "mix"),
        ({"speed": "fast"}, "speed"),
        ({"loss": 0.9}, "loss"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_params_refused_with_a_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Params.model_validate(changes)
    assert reason in one_line_validation(caught.value)


def test_defaults_and_commands() -> None:
    assert Params().world == "virtual" and Params(speed="max").speed == "max"
    command = COMMAND.validate_python({"type": "command", "action": "step"})
    assert isinstance(command, StepCommand) and command.args.seconds is None
    with pytest.raises(ValidationError):
        COMMAND.validate_python({"type": "command", "action": "put", "args": {"key": ""}})


def test_ids_positions_and_values() -> None:
    assert parse_id("5", 3) == 5
    for bad in ("-1", "0x10", "8", ""):
        with pytest.raises(ValueError):
            parse_id(bad, 3)
    assert position(0, 160) == 0.0 and position(2**160 - 1, 160) < 1.0
    for value in ("red", {"a": [1, 2]}, 42, None, True, "42 apples"):
        assert decode_value(encode_value(value)) == value
    assert decode_value(b"\xff") == {"base64": "/w=="}
    assert fingers_view(["1", "1", "5", None, "5"]) == [
        {"index": 0, "node": "1"},
        {"index": 2, "node": "5"},
        {"index": 4, "node": "5"},
    ]


def test_event_view_names_every_node() -> None:
    event = {
        "kind": "lookup_completed",
        "time": 1.5,
        "node": {"id": "3", "address": "sim-1"},
        "key_id": "60",
        "path": [{"id": "3", "address": "a"}, {"id": "40", "address": "b"}, {"id": "61", "address": "c"}],
        "timeouts": 0,
        "purpose": "get",
    }
    view = event_view(event, 6)
    assert view["path"] == ["3", "40", "61"] and view["hops"] == 2 and view["nodes"] == ["3", "40", "61"]
    assert view["key_pos"] == 60 / 64 and "2 hops" in view["text"]
