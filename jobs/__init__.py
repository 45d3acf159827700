"""Example jobs; each module is a self-contained job file (see its docstring to run it)."""
