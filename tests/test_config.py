"""County and scoring configuration: valid files load, invalid ones name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realestate_assets.config_models import ConfigError, load_counties, load_county, load_outreach
from realestate_assets.definitions import build_definitions


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
def test_invalid_county_file_fails_loading_with_file_and_field(repo_config: Path, change: dict,
                                                                field: str) -> None:
    path = edit_king(repo_config, change)
    with pytest.raises(ConfigError) as error:
        build_definitions(repo_config)
    assert str(path) in str(error.value) and field in str(error.value), str(error.value)


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
