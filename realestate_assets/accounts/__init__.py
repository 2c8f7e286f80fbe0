"""Accounts: users, memberships, roles, API keys, login sessions and the audit trail.

Pure domain code (no web framework, no Dagster): `credentials` hashes and signs, `roles` says
who may do what, `store` reads and writes the account tables on a psycopg2 cursor that the caller
has already scoped to a tenant (`realestate_assets.db.tenancy.act_as_api`).
"""
