"""The Promela model of the placement and follow protocol (model/placement.pml).

- :mod:`tools.model.constants` writes model/constants.pml from workflows/policies.py and the
  Settings defaults (``python -m tools.model.constants``; ``--check`` fails when it is stale).
- :mod:`tools.model.check` runs spin, the C compiler and the verifier on a variant of the model
  and turns a counterexample into readable steps (``python -m tools.model.check``).
"""
