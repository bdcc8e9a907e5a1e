"""Wait for and fetch simulations with the OFFICIAL ``ionworks-api`` client (benchmark 1).

Runs inside a venv that has ``ionworks-api`` and NOT this repository's ``ionworks``
(both import as ``ionworks``); ``python -m benchmarks batch`` builds that venv and runs::

    python benchmarks/official_batch.py URL API_KEY IDS.json

It prints one JSON object: ``{"n", "wait_s", "fetch_s", "total_s", "rows", "version"}``,
timed after the imports (the client's import time is not counted).
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time


def main(argv: list[str]) -> int:
    url, key, ids_path = argv[1:4]
    from ionworks import Ionworks

    with open(ids_path) as fh:
        ids = json.load(fh)
    client = Ionworks(api_key=key, api_url=url)
    start = time.perf_counter()
    client.simulation.wait_for_completion(ids, timeout=600, poll_interval=1, verbose=False)
    waited = time.perf_counter()
    rows = 0
    for sid in ids:
        result = client.simulation.get_result(sid)
        rows += len(result.time_series)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "n": len(ids),
                "wait_s": waited - start,
                "fetch_s": done - waited,
                "total_s": done - start,
                "rows": rows,
                "version": importlib.metadata.version("ionworks-api"),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
