"""README's layout section names every top-level folder and every package of realestate_assets/,
so a newcomer's map of the tree stays true as the tree changes."""

from __future__ import annotations

import re
import subprocess

from realestate_assets.settings import repo_root


def layout_block() -> str:
    readme = (repo_root() / "README.md").read_text()
    return re.search(r"## Layout\n\n```\n(.*?)```", readme, re.S).group(1)


def tracked_paths() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=repo_root(), capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_readme_layout_names_every_top_level_folder_and_domain_package() -> None:
    layout = layout_block()
    paths = tracked_paths()
    top = {p.split("/")[0] for p in paths if "/" in p and not p.startswith(".")}
    packages = {p.split("/")[1] for p in paths
                if p.startswith("realestate_assets/") and p.count("/") >= 2}
    named = set(re.findall(r"[\w.]+(?=/)", layout))
    assert top <= named, top - named
    assert packages <= named, packages - named
