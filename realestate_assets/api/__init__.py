"""The public HTTP API (FastAPI): provider webhooks, unsubscribe, signed object links.

Importing builds nothing and connects to nothing; `uvicorn realestate_assets.api.app:app`
serves it, reading its settings from the environment at the first request.
"""
