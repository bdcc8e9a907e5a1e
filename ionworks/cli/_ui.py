"""``ionworks ui``: sign in to the local server's web pages in the browser.

Asks the server (with the API key) for a one-time login token and opens
``<server>/ui/login?token=…`` with :mod:`webbrowser`, as Jupyter does; ``--no-browser`` prints
the link as the last line instead. The server is ``--url`` (with ``--api-key`` or
``$IONWORKS_API_KEY``), else the shared local server of ``--data-dir`` (started if needed),
else the configured API (``$IONWORKS_API_URL``) or the default local server.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from ionworks.cli._common import CLIError, UsageError

__all__ = ["add_commands"]

TIMEOUT: Final = 30.0
#: The token answer is a small JSON object; more is not read.
MAX_ANSWER: Final = 64 * 1024


def _server(args: argparse.Namespace) -> tuple[str, str | None]:
    """The server's base URL and the API key to ask it with."""
    if args.url and args.data_dir:
        raise UsageError("give --url or --data-dir, not both")
    if args.url:
        return args.url, args.api_key or os.environ.get("IONWORKS_API_KEY") or None
    if args.api_key:
        raise UsageError("--api-key needs --url")
    env_url = os.environ.get("IONWORKS_API_URL")
    if env_url and not args.data_dir:
        return env_url, os.environ.get("IONWORKS_API_KEY") or None
    from ionworks.server import daemon

    return daemon.ensure_running(Path(args.data_dir) if args.data_dir else None)


def login_url(base: str, api_key: str | None) -> str:
    """A one-time login link to ``base``'s web pages."""
    base = base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, got {base[:80]!r}")
    headers = {"X-API-Key": api_key} if api_key else {}
    request = urllib.request.Request(
        f"{base}/ui/login-token", data=b"", headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer: Any = json.loads(response.read(MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise CLIError(
                f"{base} refused the API key (pass --api-key or set IONWORKS_API_KEY)"
            ) from None
        if exc.code == 404:
            raise CLIError(f"{base} has no web pages (is it an ionworks local server?)") from None
        raise CLIError(f"{base} answered {exc.code} to the login-token request") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CLIError(f"cannot reach {base}: {getattr(exc, 'reason', exc)}") from None
    except ValueError:
        raise CLIError(f"{base} did not answer the login-token request with JSON") from None
    path = answer.get("login_path") if isinstance(answer, dict) else None
    if not isinstance(path, str) or not path.startswith("/ui/login?token="):
        raise CLIError(f"{base} did not answer the login-token request with a login link")
    return base + path


def _ui(args: argparse.Namespace) -> int:
    base, key = _server(args)
    link = login_url(base, key)
    if args.no_browser:
        print("Open this link in a browser to sign in (it works once, for two minutes):")
        print(link)
        return 0
    import webbrowser

    print(f"Opening the web pages of {base.rstrip('/')} in your browser")
    if not webbrowser.open(link):
        print("No browser could be started; open this link (it works once, for two minutes):")
        print(link)
    return 0


def add_commands(sub: Any) -> None:
    """The ``ui`` subcommand."""
    ui = sub.add_parser("ui", help="open the local server's web pages in a browser")
    ui.add_argument("--url", default=None, help="the server's URL (default: the local server)")
    ui.add_argument(
        "--api-key", default=None, help="API key for --url (default: $IONWORKS_API_KEY)"
    )
    ui.add_argument(
        "--data-dir",
        default=None,
        help="the shared local server of this data directory (started if needed)",
    )
    ui.add_argument(
        "--no-browser", action="store_true", help="print the login link instead of opening it"
    )
    ui.set_defaults(func=_ui)
