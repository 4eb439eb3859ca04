"""The `lmops` command: a root click group and one module per stage."""
