"""The public HTTP API (FastAPI): provider webhooks, unsubscribe, signed object links.

Importing builds nothing and connects to nothing; `python -m realestate_assets.api.serve` (uvicorn
serving `realestate_assets.api.app:app`) serves it, reading its settings from the environment at
the first request.
"""
