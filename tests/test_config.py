"""Configuration resolution: arguments > environment > defaults."""

from __future__ import annotations

import pytest

from ionworks import AsyncIonworks
from ionworks._config import DEFAULT_API_URL, require_project_id, resolve_config


def test_defaults_without_anything_select_local_server() -> None:
    config = resolve_config(environ={})
    assert config.api_url is None
    assert config.timeout == 10 and config.max_retries == 5


def test_key_without_url_uses_cloud_default() -> None:
    config = resolve_config(environ={"IONWORKS_API_KEY": "k"})
    assert config.api_url == DEFAULT_API_URL
    assert config.auth_headers() == {"X-API-Key": "k"}


def test_arguments_beat_environment() -> None:
    env = {
        "IONWORKS_API_KEY": "env-key",
        "IONWORKS_API_URL": "http://env",
        "IONWORKS_PROJECT_ID": "env-p",
        "IONWORKS_DATAFRAME_BACKEND": "pandas",
    }
    config = resolve_config(
        api_key="arg",
        api_url="http://arg/",
        project_id="arg-p",
        dataframe_backend="polars",
        environ=env,
    )
    assert (config.api_key, config.api_url, config.project_id) == ("arg", "http://arg", "arg-p")
    assert config.dataframe_backend == "polars"


def test_explicit_credentials_ignore_env_credentials() -> None:
    config = resolve_config(api_key="arg", environ={"IONWORKS_API_TOKEN": "tok"})
    assert config.token is None
    assert config.auth_headers() == {"X-API-Key": "arg"}


def test_token_wins_over_key_and_is_bearer() -> None:
    config = resolve_config(
        environ={
            "IONWORKS_API_KEY": "k",
            "IONWORKS_API_TOKEN": "t",
            "IONWORKS_ORGANIZATION_ID": "o",
        }
    )
    assert config.auth_headers() == {"Authorization": "Bearer t", "X-Organization-Id": "o"}


def test_deprecated_project_id_env_warns() -> None:
    with pytest.warns(DeprecationWarning, match="IONWORKS_PROJECT_ID"):
        config = resolve_config(environ={"PROJECT_ID": "legacy"})
    assert config.project_id == "legacy"


def test_new_project_env_wins_without_warning() -> None:
    config = resolve_config(environ={"IONWORKS_PROJECT_ID": "new", "PROJECT_ID": "old"})
    assert config.project_id == "new"


def test_invalid_env_backend_falls_back_to_default() -> None:
    assert resolve_config(environ={"IONWORKS_DATAFRAME_BACKEND": "excel"}).dataframe_backend is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataframe_backend": "excel"}, "dataframe_backend"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"api_url": "ftp://x"}, "http"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_config(environ={}, **kwargs)  # type: ignore[arg-type]


def test_require_project_id_names_three_ways() -> None:
    with pytest.raises(ValueError) as info:
        require_project_id(None, "")
    message = str(info.value)
    assert "project_id=" in message and "Ionworks(" in message and "IONWORKS_PROJECT_ID" in message
    assert require_project_id(None, "p") == "p"


def test_client_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IONWORKS_API_URL", "http://from-env/")
    monkeypatch.setenv("IONWORKS_PROJECT_ID", "p-env")
    client = AsyncIonworks()
    assert client.api_url == "http://from-env"
    assert client.project_id == "p-env"
