"""Generated gRPC code for the Chordial wire (``chordial.proto``; see ``scripts/gen_proto.py``)."""
