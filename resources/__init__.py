"""Dagster resources: each picks its backend from the environment at run time.

Embedded defaults (a pgserver PostgreSQL, a local object directory, an .eml outbox) need no
configuration; production switches by environment variables (see README), never code edits.
"""

from resources.mailer import MailerResource
from resources.object_store import ObjectStoreResource
from resources.scraper import ScraperResource
from resources.vectors import VectorsResource
from resources.warehouse import WarehouseResource

__all__ = ["MailerResource", "ObjectStoreResource", "ScraperResource", "VectorsResource", "WarehouseResource"]
