"""``quantum-trader proof``: the original proof harness's verdicts, reproduced and extended.

It injects decisions through the Redis stream (flat fields, as the original harness did),
breaks the stack on purpose, and prints one block of evidence per check and a verdict line::

    DEDUP=PASS | TERMINAL=PASS | RESTART=PASS | IDEMPOTENT=PASS | CANCEL=PASS | BADINPUT=PASS |
    INFLIGHT=PASS | SKEW=PASS | ATTENTION=PASS | OVERALL=PASS

One module per check says what it proves (:mod:`~tools.proof.dedup`,
:mod:`~tools.proof.terminal`, :mod:`~tools.proof.restart`, :mod:`~tools.proof.idempotent`,
:mod:`~tools.proof.cancel`, :mod:`~tools.proof.badinput`, and the timing faults
:mod:`~tools.proof.inflight`, :mod:`~tools.proof.skew`, :mod:`~tools.proof.attention`);
:mod:`~tools.proof.context`
is what they share, :mod:`~tools.proof.runner` runs them and :mod:`~tools.proof.report`
holds the verdicts.
"""

from tools.proof.report import CHECKS, CheckResult, Report
from tools.proof.runner import Proof, add_arguments, run

__all__ = ["CHECKS", "CheckResult", "Proof", "Report", "add_arguments", "run"]
