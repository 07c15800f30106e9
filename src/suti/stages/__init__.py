"""Pipeline stage entry points: read a rule's inputs, call the library, write its outputs (atomically).

One module per stage; each exposes `add_arguments(parser)` and `run(args)`, and `suti.cli` turns them into
`suti <stage>` commands. A Snakemake rule declares its stage module (and the library packages it uses) as inputs, so
a code change re-runs that stage and what depends on it.
"""
