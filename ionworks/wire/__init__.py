"""The shared floor: what the client and the local server both speak, importing neither.

- :mod:`.derived` — the result columns derived from others (``Capacity [A.h]`` …);
- :mod:`.arrow` — Arrow IPC streams and parquet bytes (the result codecs);
- :mod:`.multipart` — ``multipart/mixed`` bodies of the local server's result bundle;
- :mod:`.measurements` — the measurement time-series rules (required columns, finiteness);
- :mod:`.steps` — steps and cycles of a measured time series (detected, or the cycler's own
  indices summarised);
- :mod:`.pipeline` — the pipeline element vocabulary (canonical types, legacy labels);
- :mod:`.jsonsafe` — JSON cleaning (NaN/inf → null);
- :mod:`.pybamm` — the one way to import PyBaMM (telemetry off).

Errors shared by both sides are :mod:`ionworks.errors`. :mod:`ionworks.ucp` and
:mod:`ionworks.doe` sit beside this package at the bottom; import-linter contracts (``nox -s
lint``) keep all of them free of client and server imports. Heavy libraries (numpy, polars,
pyarrow, PyBaMM) are imported by the submodules that need them, never by this package.
"""
