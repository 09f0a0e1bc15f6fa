"""`python -m gateway.cli` is the `titik` command (used by `titik demo run` for its children)."""

from gateway.cli import main

main()
