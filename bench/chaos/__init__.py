"""`make chaos` (issue #14's harness): crashes, hostile input, flaky sources, two tenants.

Not part of `make test`. Each part runs alone: `python bench/chaos/run.py --part crash [--quick]`.
"""
