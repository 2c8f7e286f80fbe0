"""placeholder"""

from pathlib import Path


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    raise NotImplementedError
