"""``python -m chordial``: the ``chordial`` command."""

from chordial.cli import main

if __name__ == "__main__":
    main()
