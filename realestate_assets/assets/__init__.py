"""The asset graph, one module per stage, assets defined at module level.

The decorators say what is particular to an asset (what it reads, its checks, its description);
partitions, owners, group, kinds and automation are applied once in `definitions.py`.
Asset functions stay thin: read through a resource, call the pure domain packages, write
through a resource, report metadata and checks.
"""
