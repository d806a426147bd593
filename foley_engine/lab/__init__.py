"""The lab: measurement harnesses that ship with the engine (``foley bench ...``).

Not imported by the engine or the CLI until a bench command runs.  The
scripts in ``benchmarks/`` are thin entry points over these modules.
"""
