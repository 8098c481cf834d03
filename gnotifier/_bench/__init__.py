"""``python -m gnotifier bench``: gnotifier against its peers, scenario by scenario.

The scenarios and their targets are in _spec.py. Modules, and where
their code runs:

- ``_spec``: the scenarios, their implementations, metrics and targets (plain data).
- ``_runner``: the parent process; runs every measurement in a fresh child
  interpreter and prints the tables.
- ``_child``: the child process; measures one implementation of one scenario
  and prints one JSON line.
- ``_scenarios``: scenarios A to F, run in the child's main thread (and its hub).
- ``_jobs``: the functions the scenarios offload (worker threads and processes).
- ``_server``, ``_app``, ``_load``: scenario S (the child, the server process
  and the load-generator process).
"""
