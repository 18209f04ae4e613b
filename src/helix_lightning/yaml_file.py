"""Read a YAML file with the project's error style (HelixError, no traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import HelixError


def read_yaml(path: str | Path, what: str = "") -> Any:
    """The parsed contents of `path`; HelixError naming the file if unreadable or not YAML.

    `what` names the kind of file in the unreadable message ("config" -> "cannot read config
    PATH: ...").
    """
    path = Path(path)
    label = f"{what} " if what else ""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise HelixError(f"cannot read {label}{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise HelixError(f"{path}: not valid YAML ({exc})") from None
