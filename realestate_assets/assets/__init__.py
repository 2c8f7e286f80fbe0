"""The asset graph, one module per table. Each module's `build(partitions)` returns its assets.

Asset functions stay thin: read through a resource, call the pure domain packages, write
through a resource, report metadata and checks.
"""
