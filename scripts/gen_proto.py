"""Generate the Python code for ``src/chordial/proto/chordial.proto`` (the one place that does).

    uv run python scripts/gen_proto.py           # regenerate the checked-in files
    uv run python scripts/gen_proto.py --check   # exit 1 if the checked-in files are stale

Runs ``grpc_tools.protoc`` with ``-Isrc`` so the generated modules import as
``chordial.proto.chordial_pb2``, and mypy-protobuf for the ``.pyi`` stubs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PROTO = Path("chordial/proto/chordial.proto")
OUT_DIR = SRC / PROTO.parent
GENERATED = ("chordial_pb2.py", "chordial_pb2.pyi", "chordial_pb2_grpc.py", "chordial_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    """Path of a protoc plugin: next to this interpreter (the venv), else on PATH."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"gen_proto: {name} not found (is mypy-protobuf installed?)")
    return found


def generate(out: Path) -> None:
    """Run protoc; the files land in ``out/chordial/proto/``."""
    import grpc_tools  # type: ignore[import-untyped]
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{SRC}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "--mypy_opt=quiet",
        "--mypy_grpc_opt=quiet",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        str(PROTO),
    ]
    status = protoc.main(args)
    if status != 0:
        raise SystemExit(f"gen_proto: protoc failed with status {status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in generated files are stale")
    options = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="chordial-proto-") as tmp:
        generate(Path(tmp))
        fresh_dir = Path(tmp) / PROTO.parent
        if options.check:
            stale = [
                name
                for name in GENERATED
                if not (OUT_DIR / name).exists() or (OUT_DIR / name).read_bytes() != (fresh_dir / name).read_bytes()
            ]
            if stale:
                print(
                    f"gen_proto: generated code is stale ({', '.join(stale)}); "
                    "run `uv run python scripts/gen_proto.py`",
                    file=sys.stderr,
                )
                return 1
            return 0
        for name in GENERATED:
            fresh = (fresh_dir / name).read_bytes()
            target = OUT_DIR / name
            if not target.exists() or target.read_bytes() != fresh:
                target.write_bytes(fresh)
                print(f"gen_proto: wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
