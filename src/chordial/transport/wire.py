"""The msgpack encoding of the core's messages used by the TCP carrier.

Why msgpack and not the protobuf messages of the gRPC carrier: encoding a ``FindStep`` and
decoding its ``StepReply`` (the most frequent exchange) costs ~13.5 µs through the protobuf
classes (dataclass → protobuf → bytes and back) and ~4.8 µs as msgpack arrays; a ``DataReply``
with a 100-byte value 13.7 against 5.1 µs (measured on this machine for issue 6).

The schema is the core's dataclasses themselves: each message is an array of its fields in
declaration order, tagged by a one-byte type number in the frame header (:data:`TYPES`, the
order of the core's ``Request`` and ``Response`` unions). Converters are derived from the field
types, so a field the core adds travels without a change here; a peer may leave out trailing
fields that have defaults. Ids (ints named ``id``, ``*_id``, ``lo``, ``hi``, ``avoid``) travel as
minimal big-endian bytes, since msgpack integers stop at 64 bits; node references as
``[id, address]``. Decoding checks every field's type and size and raises
:class:`~chordial.transport.codec.CodecError` on anything else: a peer's bytes never reach the
core unchecked.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from chordial.core.messages import Entry, ErrorReply, NodeRef, Request, Response
from chordial.transport.codec import MAX_ID_BYTES, CodecError

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]
Converter = tuple[Encoder, Decoder]

# ------------------------------------------------------------------------------------------ values


def _what(value: Any) -> str:
    if isinstance(value, bytes | str | list):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


def _same(value: Any) -> Any:
    return value


def _enc_id(value: int) -> bytes:
    if value < 0 or value.bit_length() > MAX_ID_BYTES * 8:
        raise CodecError(f"id {value} out of range 0..2^{MAX_ID_BYTES * 8}-1")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _dec_id(data: Any) -> int:
    if type(data) is not bytes or len(data) > MAX_ID_BYTES:
        raise CodecError(f"id must be at most {MAX_ID_BYTES} bytes, got {_what(data)}")
    return int.from_bytes(data, "big")


def _dec_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise CodecError(f"expected a boolean, got {_what(value)}")
    return value


def _dec_int(value: Any) -> int:
    if type(value) is not int:
        raise CodecError(f"expected an integer, got {_what(value)}")
    return value


def _dec_float(value: Any) -> float:
    if type(value) is not float and type(value) is not int:
        raise CodecError(f"expected a number, got {_what(value)}")
    return float(value)


def _dec_str(value: Any) -> str:
    if type(value) is not str:
        raise CodecError(f"expected a string, got {_what(value)}")
    return value


def _dec_bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise CodecError(f"expected bytes, got {_what(value)}")
    return value


_new: Final = object.__new__
_set_ref_id: Final = NodeRef.__dict__["id"].__set__
_set_ref_address: Final = NodeRef.__dict__["address"].__set__


def _enc_ref(ref: NodeRef) -> list[Any]:
    return [_enc_id(ref.id), ref.address]


def _dec_ref(value: Any) -> NodeRef:
    if type(value) is not list or len(value) != 2:
        raise CodecError(f"node reference must be [id, address], got {_what(value)}")
    address = value[1]
    if type(address) is not str or not address:
        raise CodecError("node reference with an empty or non-string address")
    ref = _new(NodeRef)  # slots filled directly, as the compiled decoders below do
    _set_ref_id(ref, _dec_id(value[0]))
    _set_ref_address(ref, address)
    return ref


def _optional(enc: Encoder, dec: Decoder) -> Converter:
    return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))


def _many(enc: Encoder, dec: Decoder) -> Converter:
    def decode_many(value: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise CodecError(f"expected an array, got {_what(value)}")
        return tuple([dec(item) for item in value])

    return (lambda v: [enc(item) for item in v]), decode_many


def _fixed(parts: tuple[Converter, ...]) -> Converter:
    def encode_fixed(value: Any) -> list[Any]:
        return [enc(item) for (enc, _), item in zip(parts, value, strict=True)]

    def decode_fixed(value: Any) -> tuple[Any, ...]:
        if type(value) is not list or len(value) != len(parts):
            raise CodecError(f"expected an array of {len(parts)}, got {_what(value)}")
        return tuple(dec(item) for (_, dec), item in zip(parts, value, strict=True))

    return encode_fixed, decode_fixed


def _is_id_name(name: str) -> bool:
    return name in ("id", "lo", "hi", "avoid") or name.endswith("_id")


# ------------------------------------------------------------------------------------------ shapes


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one dataclass travels: its field names and their converters."""

    kind: type[Any]
    names: tuple[str, ...]
    encoders: tuple[Encoder, ...]
    decoders: tuple[Decoder, ...]
    required: int
    """Fields without a default: a peer may leave out the trailing ones that have one."""
    fast_encode: Callable[[Any], list[Any]]
    fast_decode: Callable[[list[Any]], Any]
    """The same, compiled for this shape (every field in one expression): about half the cost of
    a loop over the converters, and these run once or twice per message."""
    size: int
    """Number of fields."""

    def encode(self, value: Any) -> list[Any]:
        return self.fast_encode(value)

    def decode(self, fields: Any) -> Any:
        if type(fields) is list and len(fields) == self.size:
            return self.fast_decode(fields)
        if type(fields) is not list or not self.required <= len(fields) <= len(self.decoders):
            raise CodecError(f"{self.kind.__name__} must have {len(self.decoders)} fields, got {_what(fields)}")
        return self.kind(*[dec(value) for dec, value in zip(self.decoders, fields, strict=False)])


def _compile(
    kind: type[Any], names: tuple[str, ...], encoders: tuple[Encoder, ...], decoders: tuple[Decoder, ...]
) -> tuple[Callable[[Any], list[Any]], Callable[[list[Any]], Any]]:
    """Straight-line encode and decode functions for one dataclass (the field names come from
    the dataclass definition, never from the wire)."""
    env: dict[str, Any] = {"kind": kind}
    parts = []
    for i, (name, enc) in enumerate(zip(names, encoders, strict=True)):
        if not name.isidentifier():
            raise TypeError(f"field {name!r} of {kind.__name__} is not an identifier")
        if enc is _same:
            parts.append(f"m.{name}")
        else:
            env[f"e{i}"] = enc
            parts.append(f"e{i}(m.{name})")
    for i, dec in enumerate(decoders):
        env[f"d{i}"] = dec
    source = f"def encode(m):\n    return [{', '.join(parts)}]\n"
    if _settable(kind):
        # Fill the slots of a bare instance: a frozen dataclass's __init__ goes through
        # object.__setattr__ for every field, which costs twice as much.
        env["new"] = _new
        sets = "".join(f"    s{i}(m, d{i}(f[{i}]))\n" for i in range(len(decoders)))
        for i, name in enumerate(names):
            env[f"s{i}"] = kind.__dict__[name].__set__
        source += f"def decode(f):\n    m = new(kind)\n{sets}    return m\n"
    else:
        source += f"def decode(f):\n    return kind({', '.join(f'd{i}(f[{i}])' for i in range(len(decoders)))})\n"
    exec(source, env)  # built from our own dataclass fields only
    return env["encode"], env["decode"]


def _settable(kind: type[Any]) -> bool:
    """Whether instances of ``kind`` may be built by filling their slots (no __init__ logic
    beyond setting the fields)."""
    return (
        dataclasses.is_dataclass(kind)
        and "__slots__" in kind.__dict__
        and not hasattr(kind, "__post_init__")
        and all(f.init for f in dataclasses.fields(kind))
    )


def _converter(hint: Any, name: str) -> Converter:
    """Encoder and decoder for a field of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise TypeError(f"field {name}: unions other than X | None have no wire form")
        return _optional(*_converter(others[0], name))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _many(*_converter(args[0], name))
        return _fixed(tuple(_converter(a, f"{name}[{i}]") for i, a in enumerate(args)))
    if origin is typing.Literal or hint is str:
        return _same, _dec_str
    if hint is NodeRef:
        return _enc_ref, _dec_ref
    if hint is Entry:
        return _enc_entry, _dec_entry
    if hint is bool:
        return _same, _dec_bool
    if hint is int:
        return (_enc_id, _dec_id) if _is_id_name(name) else (_same, _dec_int)
    if hint is bytes:
        return _same, _dec_bytes
    if hint is float:
        return _same, _dec_float
    raise TypeError(f"field {name}: type {hint!r} has no wire form")


def _shape(kind: type[Any]) -> _Shape:
    hints = typing.get_type_hints(kind)
    fields = dataclasses.fields(kind)
    converters = [_converter(hints[f.name], f.name) for f in fields]
    required = sum(1 for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    names = tuple(f.name for f in fields)
    encoders = tuple(enc for enc, _ in converters)
    decoders = tuple(dec for _, dec in converters)
    return _Shape(kind, names, encoders, decoders, required, *_compile(kind, names, encoders, decoders), len(names))


_ID_BITS: Final = MAX_ID_BYTES * 8


def _enc_entry(entry: Entry) -> list[Any]:
    # Written out (entries are most of a write's bytes and travel three times per write); the
    # generic shape below checks the same and names what is wrong.
    kid, rid, version = entry.key_id, entry.request_id, entry.version
    if version < 0:
        raise CodecError(f"entry {entry.key!r}: negative version {entry.version}")
    if kid < 0 or rid < 0 or kid.bit_length() > _ID_BITS or rid.bit_length() > _ID_BITS:
        return _ENTRY.encode(entry)
    return [
        entry.key,
        kid.to_bytes((kid.bit_length() + 7) >> 3, "big"),
        entry.value,
        version,
        entry.deleted,
        rid.to_bytes((rid.bit_length() + 7) >> 3, "big"),
    ]


# The fast paths above and below spell out Entry's six fields; a seventh would have to be added
# there (this fails at import until it is).
_ENTRY_FIELDS: Final = ("key", "key_id", "value", "version", "deleted", "request_id")
if tuple(f.name for f in dataclasses.fields(Entry)) != _ENTRY_FIELDS:
    raise ImportError("chordial.transport.wire: Entry's fields changed; update _enc_entry and _dec_entry")
_set_key, _set_key_id, _set_value, _set_version, _set_deleted, _set_request_id = (
    Entry.__dict__[f.name].__set__ for f in dataclasses.fields(Entry)
)


def _dec_entry(value: Any) -> Entry:
    if type(value) is list and len(value) == 6:
        key, kid, data, version, deleted, rid = value
        if (
            type(key) is str
            and type(kid) is bytes
            and len(kid) <= MAX_ID_BYTES
            and type(data) is bytes
            and type(version) is int
            and version >= 0
            and type(deleted) is bool
            and type(rid) is bytes
            and len(rid) <= MAX_ID_BYTES
        ):
            built: Entry = _new(Entry)
            _set_key(built, key)
            _set_key_id(built, int.from_bytes(kid, "big"))
            _set_value(built, data)
            _set_version(built, version)
            _set_deleted(built, deleted)
            _set_request_id(built, int.from_bytes(rid, "big"))
            return built
    entry: Entry = _ENTRY.decode(value)  # an older peer's shorter form, or the error to report
    if entry.version < 0:
        raise CodecError(f"entry {entry.key!r}: negative version {entry.version}")
    return entry


_ENTRY: Final = _shape(Entry)
_REQUESTS: Final = typing.get_args(Request)
_REPLIES: Final = tuple(kind for kind in typing.get_args(Response) if kind is not ErrorReply)

TYPES: Final[tuple[type[Any], ...]] = (*_REQUESTS, *_REPLIES)
"""Message types by their one-byte tag: requests, then replies, in the order of the core's
``Request`` and ``Response`` unions (both ends run the same code: the order is the contract)."""

REQUEST_TAGS: Final = range(0, len(_REQUESTS))
_REQUEST_COUNT: Final = len(_REQUESTS)
_TYPE_COUNT: Final = len(TYPES)
_SHAPES: Final = tuple(_shape(kind) for kind in TYPES)
_TAG: Final[dict[type[Any], int]] = {kind: tag for tag, kind in enumerate(TYPES)}

# ------------------------------------------------------------------------------------------ api

_packer = msgpack.Packer(use_bin_type=True, autoreset=True)
_unpackb: Final = msgpack.unpackb


def tag_of(message: Request | Response) -> int:
    """The type tag of a request or reply (``CodecError`` for anything else)."""
    tag = _TAG.get(type(message))
    if tag is None:
        raise CodecError(f"{type(message).__name__} has no wire form")
    return tag


def encode(message: Request | Response) -> tuple[int, bytes]:
    """``(tag, body)`` of a request or reply."""
    tag = _TAG.get(type(message))
    if tag is None:
        raise CodecError(f"{type(message).__name__} has no wire form")
    try:
        return tag, _packer.pack(_SHAPES[tag].fast_encode(message))
    except CodecError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise CodecError(f"cannot encode {type(message).__name__}: {exc}") from exc


def decode(tag: int, body: bytes) -> Any:
    """The message of type ``tag`` in ``body``; :class:`CodecError` when it is not one."""
    if not 0 <= tag < _TYPE_COUNT:
        raise CodecError(f"unknown message type {tag}")
    shape = _SHAPES[tag]
    try:
        fields = _unpackb(body)
    except Exception:
        fields = unpack(body, shape.kind.__name__)  # raises, and says why
    try:
        if type(fields) is list and len(fields) == shape.size:
            return shape.fast_decode(fields)  # the usual case, without the call through decode()
        return shape.decode(fields)
    except CodecError as exc:
        raise CodecError(f"malformed {shape.kind.__name__}: {exc}") from None


def is_request_tag(tag: int) -> bool:
    return 0 <= tag < _REQUEST_COUNT


def pack(value: Any) -> bytes:
    """Any msgpack-able value (error replies, events)."""
    return _packer.pack(value)


def unpack(body: bytes, what: str = "frame") -> Any:
    """Parse one msgpack value; :class:`CodecError` when ``body`` is not exactly one."""
    try:
        return _unpackb(body)  # msgpack's defaults: raw=False, strict_map_key=True, use_list=True
    except Exception as exc:  # msgpack raises ValueError, its own FormatError/StackError/ExtraData ...
        raise CodecError(f"malformed {what}: {type(exc).__name__}: {exc or 'cannot decode'}") from None


__all__ = ["REQUEST_TAGS", "TYPES", "decode", "encode", "is_request_tag", "pack", "tag_of", "unpack"]
