"""`scores` without its two per-row JSON documents: the four component percentiles as plain
columns, the models' versions once per county in `score_model_versions` (issue 17, docs/scale.md
"Twenty-seventh round (a)").

At a million parcels the server's COPY of the county's score rows (one backend, one core, on the
`scores` step's path) was 3.6 s, of which ≈1.3 s parsed `model_versions` — one value for the whole
county (the active models' versions), 132 MB of JSON text parsed by `jsonb_in` a million times —
and ≈0.7 s `score_components` (docs/scale.md "Twenty-sixth round (g)").

* `scores.score_components` (jsonb: each component a county percentile rounded to 4 places,
  null where the data cannot say; `deal`, `equity`, `confidence`, `propensity` for a county
  scored by the models, `equity`, `tenure`, `upside`, `confidence` by the rule) becomes one
  double precision column per component, `<name>_percentile` (NULL for null, and for a component
  the county's scoring does not have: a 4-place value reads back as the same float).
  Payload like the column they replace (0055): read with their row, in no WHERE/JOIN/ORDER BY,
  so at statistics target 0.
* `scores.model_versions` (jsonb, every row of a county the same: the scores step writes a
  county at once with one model set) becomes `score_model_versions (county, model_versions,
  components, updated_at)`, one row per scored county, written by the step in the transaction
  that writes its rows; `components` names the components the county's rows have (the keys
  their documents had, one set per county: the scoring method is the county's). Readers rebuild
  the document from those columns (`ml/scoring.py::SCORE_COMPONENT_COLUMNS`, the one mapping),
  so the API's shapes stay. Public county data like `scores`: no tenant, the API role reads it through the same
  `county_subscribed` policy (0008) and its writes bump the same `c:<county>` response-cache
  scope (0037: the detail shows the versions).

Upgrade: each county's versions and component names from its newest score row (a county's rows
written by the step all carry one value and one key set), the percentiles from the documents (a
key a document lacks is NULL). Downgrade: the two columns back (every row of a county gets its
county's versions and a document of its county's components, `{}` for a county without a row)
and the table dropped.

Revision ID: 0060
Revises: 0059
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
# component -> its column (the app's mapping is ml/scoring.py::SCORE_COMPONENT_COLUMNS, held equal by a test).
COMPONENT_COLUMNS = {"deal": "deal_percentile", "equity": "equity_percentile",
                     "tenure": "tenure_percentile", "upside": "upside_percentile",
                     "confidence": "confidence_percentile", "propensity": "propensity_percentile"}
# table -> its payload columns ANALYZE skips (0055's rule) that this migration adds; and the
# payload columns of 0055's list it drops. Read by tests/test_payload_statistics.py.
PAYLOAD_COLUMNS: dict[str, tuple[str, ...]] = {"scores": tuple(COMPONENT_COLUMNS.values())}
DROPPED_COLUMNS: dict[str, tuple[str, ...]] = {"scores": ("score_components", "model_versions")}
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")  # 0008's, as 0054 left it
COMMENTS = {
    "county": "County the scores are of (scores.county).",
    "model_versions": "Version of every model that produced the county's scores (JSON: avm, deal, propensity).",
    "components": ("The components behind bird_dog_score the county's score rows have (their <name>_percentile "
                   "columns), as the scoring method gives them."),
    "updated_at": "When the scores step last changed the versions.",
}
# The key columns this migration adds, `COLLATE "C"` as 0054's (read by tests/test_key_collation.py).
KEY_COLUMNS = {"score_model_versions": ("county",)}
# The response cache's dependencies this migration adds (0037's form: table -> scope column, prefix).
DEPENDENCIES = {"score_model_versions": ("county", "c:")}
OLD_COMMENTS = {
    "score_components": "The four county percentiles behind bird_dog_score and their weights (JSON).",
    "model_versions": "Version of every model that produced the row (JSON: avm, deal, propensity).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute('CREATE TABLE score_model_versions (county text COLLATE "C" PRIMARY KEY, '
               "model_versions jsonb NOT NULL DEFAULT '{}', components text[] NOT NULL DEFAULT '{}', "
               "updated_at timestamptz NOT NULL DEFAULT now())")
    op.execute("COMMENT ON TABLE score_model_versions IS "
               "'The models behind each scored county''s scores, once per county (migration 0060).'")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN score_model_versions.{column} IS {_quote(text)}")
    op.execute("INSERT INTO score_model_versions (county, model_versions, components, updated_at) "
               "SELECT DISTINCT ON (county) county, model_versions, "
               "ARRAY(SELECT jsonb_object_keys(score_components)), updated_at FROM scores "
               "ORDER BY county, updated_at DESC, id DESC")
    op.execute("ALTER TABLE scores " + ", ".join(f"ADD COLUMN {c} double precision"
                                                 for c in COMPONENT_COLUMNS.values()))
    op.execute("UPDATE scores SET " + ", ".join(f"{c} = (score_components ->> {_quote(k)})::float8"
                                                for k, c in COMPONENT_COLUMNS.items()))
    op.execute("ALTER TABLE scores DROP COLUMN score_components, DROP COLUMN model_versions")
    for name, column in COMPONENT_COLUMNS.items():
        op.execute(f"COMMENT ON COLUMN scores.{column} IS "
                   + _quote(f"County percentile of the {name} component behind bird_dog_score, "
                            "rounded to 4 places (NULL where the data cannot say)."))
    op.execute("ALTER TABLE scores " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0"
                                                 for c in COMPONENT_COLUMNS.values()))
    # Public county data the API reads: as `scores` (0008, 0037).
    op.execute(f"GRANT SELECT ON score_model_versions TO {API_ROLE}")
    op.execute("ALTER TABLE score_model_versions ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON score_model_versions FOR SELECT TO {API_ROLE} "
               f"USING ({SUBSCRIBED})")
    for table, (column, prefix) in DEPENDENCIES.items():  # 0037's four triggers
        args = f"'{column}', '{prefix}'"
        op.execute(f"CREATE TRIGGER {table}_cache_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_upd AFTER UPDATE ON {table} "
                   "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_rows({args})")
        op.execute(f"CREATE TRIGGER {table}_cache_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION reos_cache_bump_all()")


def downgrade() -> None:
    op.execute("ALTER TABLE scores ADD COLUMN score_components jsonb NOT NULL DEFAULT '{}', "
               "ADD COLUMN model_versions jsonb NOT NULL DEFAULT '{}'")
    pairs = ", ".join(f"({_quote(k)}, to_jsonb(s.{c}))" for k, c in COMPONENT_COLUMNS.items())
    op.execute("UPDATE scores s SET score_components = coalesce((SELECT jsonb_object_agg(c.name, c.value) "
               f"FROM (VALUES {pairs}) AS c(name, value) WHERE c.name = ANY (v.components)), '{{}}'), "
               "model_versions = v.model_versions FROM score_model_versions v WHERE v.county = s.county")
    for column, text in OLD_COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN scores.{column} IS {_quote(text)}")
    op.execute("ALTER TABLE scores ALTER COLUMN score_components SET STATISTICS 0, "
               "ALTER COLUMN model_versions SET STATISTICS 0")  # 0055's
    op.execute("ALTER TABLE scores " + ", ".join(f"DROP COLUMN {c}" for c in COMPONENT_COLUMNS.values()))
    op.execute("DROP TABLE score_model_versions")
