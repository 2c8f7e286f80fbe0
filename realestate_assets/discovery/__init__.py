"""Discovery: read county sources into validated, canonical rows. No Dagster imports.

Every source adapter yields `Page`s (a raw DataFrame of source rows plus a reference per row,
such as a file line or a URL) and `Reject`s (a page or answer it could not read at all).
`validate.canonicalize` maps a page onto canonical fields and splits good rows from rejects.
"""
