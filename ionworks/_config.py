"""Client configuration: arguments > environment > defaults (wire.md §1.1)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping

from attrs import frozen

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ClientConfig",
    "require_project_id",
    "resolve_config",
]

DEFAULT_API_URL = "https://api.ionworks.com"
#: Per-request timeout (seconds) and retries when the client is given ``None`` (as the official
#: client: ``timeout=None`` is 10 s, ``max_retries=None`` is 5).
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
DATAFRAME_BACKENDS = ("polars", "pandas")

PROJECT_ID_HELP = (
    "project_id is required: pass project_id= to this call, pass project_id= to "
    "Ionworks(...)/AsyncIonworks(...), or set the IONWORKS_PROJECT_ID environment variable."
)


@frozen
class ClientConfig:
    """The resolved settings of one client.

    ``api_url`` is ``None`` when neither a URL nor a credential is configured: the client then
    uses the embedded local server.
    """

    api_url: str | None
    api_key: str | None = None
    token: str | None = None
    project_id: str | None = None
    organization_id: str | None = None
    dataframe_backend: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    internal_client: bool = False

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request (token wins over key; never both)."""
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.api_key:
            headers["X-API-Key"] = self.api_key
        if self.organization_id:
            headers["X-Organization-Id"] = self.organization_id
        if self.internal_client:
            headers["X-Ionworks-Internal-Client"] = "1"
        return headers


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def resolve_project_id(
    project_id: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``project_id`` argument > ``IONWORKS_PROJECT_ID`` > deprecated ``PROJECT_ID``."""
    if project_id:
        return project_id
    env = os.environ if environ is None else environ
    value = _env(env, "IONWORKS_PROJECT_ID")
    if value:
        return value
    legacy = _env(env, "PROJECT_ID")
    if legacy:
        warnings.warn(
            "The PROJECT_ID environment variable is deprecated; use IONWORKS_PROJECT_ID.",
            DeprecationWarning,
            stacklevel=4,
        )
    return legacy


def resolve_config(
    *,
    api_key: str | None = None,
    api_url: str | None = None,
    token: str | None = None,
    project_id: str | None = None,
    organization_id: str | None = None,
    dataframe_backend: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_retries: int | None = DEFAULT_MAX_RETRIES,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve a :class:`ClientConfig` from arguments and the environment (``timeout`` and
    ``max_retries`` ``None``: the defaults, :data:`DEFAULT_TIMEOUT` and
    :data:`DEFAULT_MAX_RETRIES`)."""
    env = os.environ if environ is None else environ
    if api_key or token:
        # Explicit credentials: the environment's credentials are ignored entirely.
        key, tok = api_key or None, token or None
    else:
        key, tok = _env(env, "IONWORKS_API_KEY"), _env(env, "IONWORKS_API_TOKEN")
    url = api_url or _env(env, "IONWORKS_API_URL")
    if url is None and (key or tok):
        url = DEFAULT_API_URL
    if url is not None:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"api_url must start with http:// or https://, got {url!r}")
    backend = dataframe_backend
    if backend is not None and backend not in DATAFRAME_BACKENDS:
        raise ValueError(
            f"dataframe_backend must be one of {', '.join(DATAFRAME_BACKENDS)}; got {backend!r}"
        )
    if backend is None:
        env_backend = _env(env, "IONWORKS_DATAFRAME_BACKEND")
        backend = env_backend if env_backend in DATAFRAME_BACKENDS else None
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(
            f"timeout must be a finite number of seconds > 0, or None for the default "
            f"({DEFAULT_TIMEOUT:g} s); got {timeout!r}"
        )
    if max_retries is None:
        max_retries = DEFAULT_MAX_RETRIES
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int or None, got {max_retries!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
    return ClientConfig(
        api_url=url,
        api_key=key,
        token=tok,
        project_id=resolve_project_id(project_id, env),
        organization_id=organization_id or _env(env, "IONWORKS_ORGANIZATION_ID"),
        dataframe_backend=backend,
        timeout=float(timeout),
        max_retries=int(max_retries),
        internal_client=bool(_env(env, "IONWORKS_INTERNAL_CLIENT")),
    )


def require_project_id(*candidates: str | None) -> str:
    """The first non-empty candidate, else a ``ValueError`` naming the three ways to set it."""
    for candidate in candidates:
        if candidate:
            return candidate
    raise ValueError(PROJECT_ID_HELP)
