"""Governance across stages: model cards drawn from lineage, webhooks fed by the audit log,
and (coming) users, roles and transitions. It reads every stage's store, so it sits above
them."""
