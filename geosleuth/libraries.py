"""Third-party libraries kept in their place: no telemetry, no banners on stdout, and the state
they insist on writing under geosleuth's cache folder instead of the user's home.

Each library reads its setting from the environment when it is first imported, so `contain()`
runs before geosleuth imports any of them (the engines and the CLI call it). A variable the user
has set wins.

>>> contain(); os.environ["ORT_DISABLE_TELEMETRY"]
'1'
"""

from __future__ import annotations

import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from geosleuth.cache import cache_dir


def settings() -> dict[str, str]:
    """The environment variables `contain` sets, with their values."""
    home = cache_dir() / "libraries"
    return {
        # onnxruntime (the text-line detector) keeps a device id and an event store under
        # ~/.cache/Microsoft for its telemetry unless this is set
        "ORT_DISABLE_TELEMETRY": "1",
        # Ultralytics writes settings.json (and fetches fonts) into its config folder, and prints
        # a banner on stdout the first time
        "YOLO_CONFIG_DIR": str(home / "ultralytics"),
        "YOLO_VERBOSE": "False",
        "MPLCONFIGDIR": str(home / "matplotlib"),
        "EASYOCR_MODULE_PATH": str(home / "easyocr"),
        # Hugging Face: models are still read from the user's hub cache (HF_HOME); only the folder
        # transformers creates for remote code moves, and nothing is reported
        "HF_MODULES_CACHE": str(home / "huggingface-modules"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def contain() -> None:
    """Set each library's variable (see `settings`) unless the user already has."""
    for name, value in settings().items():
        os.environ.setdefault(name, value)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence what native code writes to the process's stderr (file descriptor 2) meanwhile: a
    C library's log lines while a model loads. Its failures still arrive as Python exceptions."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a detached host process): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keep_ray_token() -> None:
    """Ray guards a local cluster with a token and, where the user has none, writes a new one to
    ~/.ray/auth_token: keep that one under the cache folder instead. A token the user has (in
    the environment, or in ~/.ray) is theirs, and is used."""
    if any(os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")) \
            or (Path.home() / ".ray" / "auth_token").exists():
        return
    token = cache_dir() / "libraries" / "ray" / "auth_token"
    token.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
