"""The checked-in generated code matches chordial.proto, and the service matches the codec."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from chordial.proto import chordial_pb2 as pb
from chordial.proto import chordial_pb2_grpc as pb_grpc
from chordial.transport.codec import METHODS, SERVICE

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_proto.py"


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_reports_stale_code_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen_proto = _load_script()
    for name in gen_proto.GENERATED:
        shutil.copy(gen_proto.OUT_DIR / name, tmp_path / name)
    (tmp_path / "chordial_pb2.py").write_text("# edited by hand\n")
    monkeypatch.setattr(gen_proto, "OUT_DIR", tmp_path)
    assert gen_proto.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "chordial_pb2.py" in err
    assert "stale" in err


def test_service_matches_the_codec() -> None:
    service = pb.DESCRIPTOR.services_by_name["Chord"]
    assert service.full_name == SERVICE
    unary = {m.name: m for m in service.methods if not m.server_streaming}
    assert set(unary) == set(METHODS)
    for name, method in METHODS.items():
        descriptor = unary[name]
        assert not descriptor.client_streaming
        assert descriptor.input_type is method.request_pb.DESCRIPTOR
        assert descriptor.output_type is method.reply_pb.DESCRIPTOR
    watch = service.methods_by_name["Watch"]
    assert watch.server_streaming
    assert not watch.client_streaming
    assert watch.input_type is pb.WatchRequest.DESCRIPTOR
    assert watch.output_type is pb.WatchEvent.DESCRIPTOR
    assert set(service.methods_by_name) == {*METHODS, "Watch"}


def test_generated_grpc_module_imports() -> None:
    assert hasattr(pb_grpc, "ChordStub")
    assert hasattr(pb_grpc, "add_ChordServicer_to_server")
    assert pb.DESCRIPTOR.package == "chordial.v1"
    assert pb.DESCRIPTOR.name == "chordial/proto/chordial.proto"
