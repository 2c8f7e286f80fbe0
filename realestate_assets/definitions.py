"""The code location: every asset, check, schedule, sensor and resource, assembled in one place.

Definitions are built lazily (`@dg.definitions`), so importing this module does no work;
county files are read when Dagster loads the code location.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from partitions.counties import county_partitions
from realestate_assets.assets import discovery, enrichment, features, outreach, scoring
from realestate_assets.config_models import load_counties
from resources import MailerResource, ObjectStoreResource, ScraperResource, VectorsResource, WarehouseResource
from sensors import automation_sensor, discovery_job, discovery_schedules, email_events_sensor


def build_definitions(config_directory: Path | None = None) -> dg.Definitions:
    counties = load_counties(config_directory)
    partitions = county_partitions(counties)
    assets = [
        *discovery.build(partitions),
        *enrichment.build(partitions),
        *features.build(partitions),
        *scoring.build(partitions),
        *outreach.build(partitions),
    ]
    return dg.Definitions(
        assets=assets,
        jobs=[discovery_job],
        schedules=discovery_schedules(counties),
        sensors=[automation_sensor, email_events_sensor],
        resources={
            "warehouse": WarehouseResource(),
            "object_store": ObjectStoreResource(),
            "mailer": MailerResource(),
            "vectors": VectorsResource(),
            "scraper": ScraperResource(),
        },
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
