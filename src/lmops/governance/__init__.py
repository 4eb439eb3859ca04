"""Governance across stages: model cards drawn from lineage, and (coming) users, roles,
transitions and webhooks. It reads every stage's store, so it sits above them."""
