"""Where srapp's files are: the source checkout, the shipped weights, the user's models folder,
the caches and the benchmark data.

Every other module asks this one, so an installed package and a source checkout behave alike:

* the **source checkout** is the folder above the package when it holds ``pyproject.toml``
  (an editable install or a clone); an installed package has none;
* the **shipped weights**: ``$SRAPP_WEIGHTS_DIR``, else the checkout's ``weights/``, else the copy
  installed with the package;
* the **models folder** where a user keeps their own model files: ``$SRAPP_MODELS``, else the
  per-user data folder (``platformdirs``: ``~/.local/share/srapp/models`` on Linux);
* the **cache** (converted networks): ``$XDG_CACHE_HOME/srapp`` or the per-user cache folder;
* the **data** (benchmarks, calibration, reference outputs): ``$SRAPP_DATA``, else ``../shared``
  beside a source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "srapp"
PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_ENV = "SRAPP_WEIGHTS_DIR"
MODELS_ENV = "SRAPP_MODELS"
DATA_ENV = "SRAPP_DATA"
INSTALLED_WEIGHTS = PACKAGE_DIR / "shipped_weights"  # where a non-editable install puts weights/


def source_checkout() -> Path | None:
    """The repository root when srapp runs from a source checkout, else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def weights_dir() -> Path:
    """The folder of the shipped weights (``$SRAPP_WEIGHTS_DIR`` overrides it)."""
    configured = os.environ.get(WEIGHTS_ENV)
    if configured:
        return Path(configured).expanduser()
    checkout = source_checkout()
    if checkout is not None and (checkout / "weights").is_dir():
        return checkout / "weights"
    return INSTALLED_WEIGHTS


def models_dir() -> Path:
    """The user's models folder (``$SRAPP_MODELS`` overrides it); it may not exist yet."""
    configured = os.environ.get(MODELS_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def cache_root() -> Path:
    """The per-user cache folder of srapp (``$XDG_CACHE_HOME/srapp`` where that is set)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / APP_NAME if xdg else Path(platformdirs.user_cache_dir(APP_NAME))


def data_root() -> Path | None:
    """The data folder: ``$SRAPP_DATA`` if set (whether or not it exists), else ``../shared``
    beside a source checkout if it is a folder, else None."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    checkout = source_checkout()
    if checkout is not None and (checkout.parent / "shared").is_dir():
        return checkout.parent / "shared"
    return None


def working_root() -> Path:
    """Where relative paths of option files resolve: the source checkout (it has ``options/``),
    else the current directory."""
    checkout = source_checkout()
    return checkout if checkout is not None and (checkout / "options").is_dir() else Path.cwd()
