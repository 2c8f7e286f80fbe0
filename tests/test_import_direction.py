"""Direction: domain packages import neither Dagster nor `resources/`; the API process imports
neither to read a URL or check a signature. Checked on the source (every import statement,
function-local ones included), so a hidden cycle cannot slip in through a lazy import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from realestate_assets.settings import repo_root

PACKAGE = repo_root() / "realestate_assets"
DOMAIN = ["discovery", "enrich", "ml", "docs", "outreach", "market", "db", "api", "accounts"]
DOMAIN_MODULES = ["objects.py", "settings.py", "config_models.py", "geo.py", "net.py", "activity.py"]
FORBIDDEN = ("dagster", "dagster_k8s", "dagster_aws", "dagster_postgres", "resources", "sensors", "partitions",
             "realestate_assets.assets", "realestate_assets.definitions")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def domain_files() -> list[Path]:
    files = [p for package in DOMAIN if (PACKAGE / package).exists() for p in (PACKAGE / package).rglob("*.py")]
    return sorted(files + [PACKAGE / m for m in DOMAIN_MODULES if (PACKAGE / m).exists()])


def test_the_domain_list_covers_real_packages() -> None:
    assert {"discovery", "enrich", "ml", "docs", "outreach"} <= {p for p in DOMAIN if (PACKAGE / p).is_dir()}


@pytest.mark.parametrize("path", domain_files(), ids=lambda p: str(p.relative_to(repo_root())))
def test_domain_code_imports_no_dagster_and_no_resources(path: Path) -> None:
    bad = [f"line {line}: {name}" for line, name in imported_modules(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.relative_to(repo_root())} imports {bad}"
