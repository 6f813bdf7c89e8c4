"""The request execution engine: plans, locates, decides and executes data-subject requests through connectors.

Entry points: `plan.plan_request`, `run.run_access`, `run.run_erasure`, `run.run_rectification`;
for durable execution, the steps in `steps` and the result builders in `run` (docs/connectors.md).
"""
