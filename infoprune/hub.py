"""Whether the Hugging Face hub answers: hub corpora and hub tasks are options for users who have it."""

from __future__ import annotations

import os
import socket
import urllib.parse


def offline_mode() -> bool:
    """The user asked for no hub traffic (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """A TCP connection to the hub's host opens within `timeout` seconds (and offline mode is off)."""
    if offline_mode():
        return False
    url = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urllib.parse.urlparse(url).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
