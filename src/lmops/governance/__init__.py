"""Governance across stages: users, projects, roles and keys (`access`), controlled
transitions of protected aliases (`transitions`), model cards drawn from lineage, and
webhooks fed by the audit log. It reads every stage's store, so it sits above them."""
