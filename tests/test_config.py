"""County and scoring configuration: valid files load, invalid ones name the file and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from realestate_assets.config_models import ConfigError, CountyConfig, load_counties, load_county, load_outreach
from realestate_assets.definitions import INVALID_COUNTIES, build_definitions
from resources.platform import PlatformResource


def edit_king(config: Path, change: dict) -> Path:
    path = config / "counties" / "king_wa.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_counties_are_valid() -> None:
    counties = load_counties()
    king = counties["king_wa"]
    assert king.fips == "53033" and king.sources[0].type == "bulk_file"
    assert king.sources[0].resolved_path().is_file()


@pytest.mark.parametrize(("change", "field"), [
    ({"state_fips": "5"}, "state_fips"),
    ({"bounding_box": {"min_latitude": 48, "max_latitude": 47, "min_longitude": -123,
                       "max_longitude": -121}}, "bounding_box"),
    ({"sources": [{"name": "x", "type": "ftp"}]}, "sources.0"),
    ({"sources": [{"name": "x", "type": "bulk_file", "path": "a.csv", "fields": {"colour": "c"}}]},
     "sources.0.bulk_file.fields"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_county_file_is_reported_with_file_and_field(repo_config: Path, change: dict,
                                                              field: str) -> None:
    path = edit_king(repo_config, change)
    with pytest.raises(ConfigError) as error:
        load_county(path)
    assert str(path) in str(error.value) and field in str(error.value), str(error.value)
    # The code location still loads: the error is the disabled county's, in the definitions' metadata.
    reported = build_definitions(repo_config).metadata[INVALID_COUNTIES].value["king_wa"]
    assert str(path) in reported and field in reported, reported


def test_key_must_match_file_stem(repo_config: Path) -> None:
    path = edit_king(repo_config, {"key": "pierce_wa"})
    with pytest.raises(ConfigError, match="file stem"):
        load_county(path)


def test_broken_yaml_is_reported_with_its_file(repo_config: Path) -> None:
    path = repo_config / "counties" / "king_wa.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_county(path)


def test_outreach_requires_postal_address_and_unique_recipients(repo_config: Path) -> None:
    path = repo_config / "recipients.yaml"
    data = yaml.safe_load(path.read_text())
    data["recipients"].append(dict(data["recipients"][0]))
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="duplicate recipient"):
        load_outreach(repo_config)
    del data["sender"]["postal_address"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="postal_address"):
        load_outreach(repo_config)


# ------------------------------------------------------------------ one bad county file (issue #14 item 7)

BAD_FILES = {
    "invalid YAML": (b"name: [unclosed\n", "not valid YAML"),
    "schema error": (None, "state_fips"),
    "not UTF-8": (b"name: \xff\xfe Pierce\n", "unreadable"),
    "a directory": ("dir", "unreadable"),
}


def add_bad_county(config: Path, kind: str) -> Path:
    """pierce_wa next to a valid king_wa, broken in the way `kind` says."""
    content, _ = BAD_FILES[kind]
    path = config / "counties" / "pierce_wa.yaml"
    if content == "dir":
        path.mkdir()
    elif content is None:
        data = yaml.safe_load((config / "counties" / "king_wa.yaml").read_text())
        path.write_text(yaml.safe_dump({**data, "name": "Pierce County", "state_fips": "5"}))
    else:
        path.write_bytes(content)
    return path


def only_king(config: Path) -> Path:
    for other in (config / "counties").glob("*.yaml"):
        if other.stem != "king_wa":
            other.unlink()
    return config


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_one_bad_county_file_disables_only_that_county(repo_config: Path, kind: str) -> None:
    import dagster as dg

    from realestate_assets.config_models import read_county_files

    path = add_bad_county(only_king(repo_config), kind)
    files = read_county_files(repo_config)
    assert list(files.counties) == ["king_wa"] and list(files.invalid) == ["pierce_wa"]
    assert str(path) in files.invalid["pierce_wa"] and BAD_FILES[kind][1] in files.invalid["pierce_wa"]
    with pytest.raises(ConfigError, match=BAD_FILES[kind][1]):  # the strict loader still refuses it
        load_counties(repo_config)

    defs = build_definitions(repo_config)  # before: the whole code location failed to load
    assert defs.metadata[INVALID_COUNTIES].value == files.invalid
    # The bad county keeps its partition (its runs and checks say why it is disabled); it gets no
    # discovery sensor.
    keys = defs.resolve_asset_graph().get(dg.AssetKey("sales")).partitions_def.get_partition_keys()
    assert keys == ["king_wa", "pierce_wa"]
    assert sorted(s.name for s in defs.sensors or [] if s.name.startswith("discover_")) == ["discover_king_wa"]


def test_a_disabled_county_fails_its_freshness_checks_with_the_error(repo_config: Path, tmp_path: Path) -> None:
    import dagster as dg

    from partitions.tenants import is_tenant_partitioned
    from sensors.freshness import CHECK_NAME

    add_bad_county(only_king(repo_config), "schema error")
    defs = build_definitions(repo_config)
    sensor = next(s for s in defs.sensors if s.name == "reos_county_freshness")
    with dg.instance_for_test() as instance:
        # The sensor reads each county through the `platform` resource: here the files alone
        # (no warehouse, so no overrides; tests/test_freshness.py covers those).
        platform = {"platform": PlatformResource(config_dir=str(repo_config), state_dir=str(tmp_path / "state"))}
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources=platform) as context:
            result = sensor(context)
        failed = [e for e in result.asset_events if e.partition == "pierce_wa"]
        # Every county-partitioned asset; (county × tenant) ones have no county check.
        graph = defs.resolve_asset_graph()
        assert {e.asset_key for e in failed} == {key for key in graph.get_all_asset_keys()
                                                 if not is_tenant_partitioned(graph.get(key).partitions_def)}
        assert {"packets", "emails"}.isdisjoint(e.asset_key.path[-1] for e in failed)
        assert all(e.check_name == CHECK_NAME and not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
                   and "state_fips" in e.description and "county disabled" in e.description for e in failed)
        # Recorded once, not on every tick.
        with dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                     repository_def=defs.get_repository_def(), resources=platform) as context:
            again = sensor(context)
        assert not [e for e in again.asset_events if e.partition == "pierce_wa"]


def test_a_disabled_county_fails_fast_and_the_others_run(make_deployment, tmp_path: Path) -> None:
    import dagster as dg

    from tests.samples import write_sample_config

    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=20)
    add_bad_county(config, "invalid YAML")
    deployment = make_deployment(config)
    job = build_definitions(deployment=deployment).resolve_implicit_global_asset_job_def()

    def run(county: str, asset: str) -> dg.ExecuteInProcessResult:
        return job.execute_in_process(partition_key=county, instance=dg.DagsterInstance.ephemeral(),
                                      asset_selection=[dg.AssetKey(asset)], raise_on_error=False)

    for asset in ("sales", "ml_model"):  # one asset reads its county file, one only its partition key
        bad = run("pierce_wa", asset)
        assert not bad.success
        failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
        error = failure.step_failure_data.user_failure_data
        assert "county disabled" in error.description and "not valid YAML" in error.description
        assert "pierce_wa.yaml" in error.metadata["config_error"].value
    assert run("king_wa", "sales").success


def test_a_config_file_is_parsed_again_only_when_its_text_changed(repo_config: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`_read_yaml` keeps each file's last parse by its text (issue 17: a run reads its county
    and scoring.yaml many times): the same text is not parsed twice, an edit is seen at the very
    next read (same size, same mtime or not), and what a caller changes in what it was given does
    not reach the next read."""
    import realestate_assets.config_models as config_models

    parses: list[str] = []
    safe_load = yaml.safe_load
    monkeypatch.setattr(config_models.yaml, "safe_load", lambda text: parses.append(text) or safe_load(text))
    path = repo_config / "counties" / "king_wa.yaml"
    stat = path.stat()
    first = load_county(path)
    assert load_county(path) == first and len(parses) == 1
    given = config_models.county_file_data(path)
    given["sources"][0]["name"] = "changed by a caller"
    assert config_models.county_file_data(path)["sources"][0]["name"] != "changed by a caller"
    assert len(parses) == 1
    text = path.read_text()
    edited = text.replace(f"name: {first.name}", f"name: {first.name[::-1]}")
    assert edited != text and len(edited) == len(text)
    path.write_text(edited)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size and mtime as before
    assert load_county(path).name == first.name[::-1] and len(parses) == 2


def test_a_step_reads_its_county_once(repo_config: Path) -> None:
    """`county_of` then `partition_params` in one step read the county once (a file parse and the
    override's query each); another step's context reads it again, and an invalid county still
    fails the step that reads it first through `partition_params`."""
    import dagster as dg

    from realestate_assets.assets.common import county_of, partition_params

    class Counting:
        def __init__(self) -> None:
            self.platform, self.reads = PlatformResource(config_dir=str(repo_config), state_dir=str(repo_config)), 0

        def county(self, key: str) -> CountyConfig:
            self.reads += 1
            return self.platform.county(key)

    platform = Counting()
    step = dg.build_asset_context(partition_key="king_wa")
    assert county_of(step, platform).key == "king_wa"  # type: ignore[arg-type]
    assert partition_params(step, platform) == {"county": "king_wa"}  # type: ignore[arg-type]
    assert platform.reads == 1
    edit_king(repo_config, {"state_fips": "5"})
    with pytest.raises(dg.Failure, match="county disabled"):
        partition_params(dg.build_asset_context(partition_key="king_wa"), platform)  # type: ignore[arg-type]
    assert platform.reads == 2
