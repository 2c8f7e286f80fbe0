"""Dagster resources: every setting is a field, so the UI shows it (secrets as `EnvVar`s).

`realestate_assets.definitions.resources_for` picks the local / staging / production set; the
embedded defaults (a pgserver PostgreSQL, a local object directory, an .eml outbox) need no
configuration.
"""

from resources.billing import BillingResource
from resources.great_expectations import GreatExpectationsResource
from resources.mailer import MailerResource
from resources.object_store import ObjectStoreResource
from resources.platform import PlatformResource, SourceCredentialsResource
from resources.scraper import ScraperResource
from resources.vectors import VectorsResource
from resources.warehouse import WarehouseResource

__all__ = [
    "BillingResource",
    "GreatExpectationsResource",
    "MailerResource",
    "ObjectStoreResource",
    "PlatformResource",
    "ScraperResource",
    "SourceCredentialsResource",
    "VectorsResource",
    "WarehouseResource",
]
