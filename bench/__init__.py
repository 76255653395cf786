"""``quantum-trader bench``: this system against the Temporal ceiling and the original design.

Three scenarios, each on its own freshly started stack, driven by one load generator:

- ``ceiling``  empty workflows on the same dev server, run by a worker with the same options
               that reads the decision stream and starts each one from its own client, so
               every start is eager: the fastest a Temporal workflow goes on this machine;
- ``baseline`` the original Redis-streams design, rebuilt inside the benchmark only: a
               router (set-if-absent, then XADD of the intent) and an executor consumer group
               that acknowledges at once and places the order with python-binance;
- ``system``   this project end to end: decision stream, ingress (in the worker unless
               ``--separate-ingress``), TradeIntentWorkflow, order at the paper exchange,
               terminal state, result on the stream.

Each is measured at a fixed offered load and at saturation. Nothing here asserts a timing.
"""
