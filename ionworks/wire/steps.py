"""Steps and cycles of a measured time series (wire.md §10.7), for a server deriving them
from an upload that comes without them, and for anyone checking an upload that has them.

Conventions are those of the measurement rules (:mod:`.measurements`): ``Time [s]``,
``Current [A]`` with **positive current = discharge**, ``Voltage [V]``. Everything is
vectorised numpy (no Python loop per sample or per step): a million rows take well under a
second.

**Steps, when the data has no step index** (:func:`detect_steps`):

1. *Direction.* The current is median-filtered over 3 samples (a single-sample glitch
   disappears), and each sample is rest, charge or discharge: active when ``|I|`` exceeds
   the rest threshold ``max(rest_current × I_ref, rest_current_floor)`` (``I_ref`` = the
   largest filtered ``|I|``), back to rest only below ``rest_hysteresis`` × that threshold
   (noise around the threshold does not chatter). Runs of one direction shorter than
   ``min_samples`` samples *and* ``min_duration`` seconds are glitches and join the run
   before them.
2. *Levels.* Within a run, a jump of the filtered current by more than ``current`` (relative)
   starts a new segment; segments of fewer than ``min_samples`` samples (however long: one
   sample of a sparse log is a transition) join their neighbour. A segment whose current
   leaves a flat starting level for good (``min_samples`` samples in a row) while the voltage
   then holds is split there, the boundary moved back to the last sample still within the
   start level's noise (a CC step going into a CV hold without a jump).
3. *Types.* Rest; constant current (all samples but the first, the last and ``max(1, 1 %)``
   within ``current`` of the level); constant voltage (voltage range within ``voltage`` while ``|I|`` decays by more
   than ``current``); constant power (as constant current, with ``|V·I|`` and ``power``);
   anything else is ``Dynamic``. Neighbouring constant-current segments at one level merge
   (a two-sample glitch inside a step); a chain of decaying pieces at one voltage with at
   least one piece not constant-current merges into one CV step (a sparsely logged hold).
4. *Dynamic.* A maximal run of segments that are each ``Dynamic`` or shorter than
   ``dynamic_join`` seconds, with at least one ``Dynamic`` among two or more, becomes one
   ``Dynamic`` step (a drive cycle, whatever its sign changes and idle moments, until a long
   rest or a long constant step ends it). Short clean pulses stay steps of their own.

**Steps, when the data has a step index** (``step=``, e.g. the cycler's): consecutive rows
with one value are one step; they are only typed and summarised (a cycler's combined CC-CV
step is ``Constant current constant voltage charge``).

**Cycles** (``Cycle count``, 0-based). With a cycle index (``cycle=``) a new cycle starts
where its value changes (the value at a step's first row counts). Without one, a cycle
starts at each active step in the *leading* direction that follows a step of the opposite
direction; rests belong to the cycle of the step before them. The leading direction is
``cycle_start``: ``"charge"`` (a cycle is a charge followed by a discharge),
``"discharge"``, or ``"auto"`` (the default: the direction of the first active step that
moves at least 10 % of the largest step's capacity — a test that starts by discharging
counts discharge-then-charge cycles, as cyclers do). A ``Dynamic`` step counts in the
direction of its net capacity when that is at least 10 % of its throughput.

**Summaries.** Per step (the official steps columns of ``ionworksdata.steps.summarize``
where they exist): indices, times, duration, start/end/min/max/mean/std of voltage, current
and power, capacities and energies charged and discharged (trapezoidal rule on the positive
and negative parts of the current and of ``V·I``, over the step's own rows, so they reset at
each step as a cycler's do), the mean temperature when there is one, and the cycle totals.
Means are time-weighted; standard deviations are over samples (``ddof=1``, 0 for one
sample). Per cycle (:func:`cycles_table`): sums of the steps' capacities and energies,
coulombic efficiency ``discharge / charge`` and energy efficiency likewise (null when
nothing was charged), capacity retention against the first cycle, times, durations,
voltage range and mean temperature.

Shared with :mod:`ionworks.ucp.results` (its ``step_table`` for simulations): the
positive/negative-part trapezoid (``_trapezoid_parts`` there, :func:`_step_integrals` here)
and the time-weighted mean current could use this module's helpers; the simulation table
names the voltage range ``Minimum/Maximum voltage [V]`` where the official measurement
steps say ``Min/Max voltage [V]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import numpy as np
import polars as pl

__all__ = [
    "CYCLE_COLUMNS",
    "STEP_COLUMNS",
    "STEP_TYPES",
    "TEMPERATURE_COLUMNS",
    "StepTolerances",
    "cycles_table",
    "detect_steps",
    "row_labels",
    "steps_and_cycles",
]

REST: Final = "Rest"
CC_CHARGE: Final = "Constant current charge"
CC_DISCHARGE: Final = "Constant current discharge"
CV_CHARGE: Final = "Constant voltage charge"
CV_DISCHARGE: Final = "Constant voltage discharge"
CP_CHARGE: Final = "Constant power charge"
CP_DISCHARGE: Final = "Constant power discharge"
CCCV_CHARGE: Final = "Constant current constant voltage charge"
CCCV_DISCHARGE: Final = "Constant current constant voltage discharge"
DYNAMIC: Final = "Dynamic"
STEP_TYPES: Final = (
    REST, CC_CHARGE, CC_DISCHARGE, CV_CHARGE, CV_DISCHARGE, CP_CHARGE, CP_DISCHARGE,
    CCCV_CHARGE, CCCV_DISCHARGE, DYNAMIC,
)  # fmt: skip

#: Time-series columns read by :func:`steps_and_cycles`, first match wins.
STEP_COLUMNS: Final = ("Step count", "Step from cycler")
CYCLE_COLUMNS: Final = ("Cycle from cycler", "Cycle count", "Cycle number")
TEMPERATURE_COLUMNS: Final = ("Temperature [degC]", "Temperature [°C]")

_HOUR: Final = 3600.0
_LEAD_SHARE: Final = 0.1  # share of the largest step's capacity that sets the leading direction
_NET_SHARE: Final = 0.1  # net share of a dynamic step's throughput that gives it a direction
_TYPE_CODES: Final = {name: code for code, name in enumerate(STEP_TYPES)}
_CODE_DIRECTIONS: Final = np.array(
    [1.0 if n.endswith("discharge") else -1.0 if n.endswith("charge") else 0.0 for n in STEP_TYPES]
)
_CC_CODES: Final = (_TYPE_CODES[CC_CHARGE], _TYPE_CODES[CC_DISCHARGE])

CycleStart = Literal["auto", "charge", "discharge"]


@dataclass(frozen=True)
class StepTolerances:
    """Tolerances of :func:`detect_steps` (see the module docstring for the rules)."""

    rest_current: float = 1e-3
    """Rest threshold as a fraction of the largest (3-sample-median) ``|I|``."""
    rest_current_floor: float = 1e-6
    """Rest threshold floor [A] (an all-rest record is rest, not noise)."""
    rest_hysteresis: float = 0.5
    """An active sample turns rest only below this fraction of the rest threshold."""
    current: float = 0.05
    """Relative current band of a constant-current step; a bigger jump starts a new one."""
    voltage: float = 0.01
    """Voltage range [V] of a constant-voltage step."""
    power: float = 0.05
    """Relative power band of a constant-power step."""
    min_samples: int = 3
    """A step has at least this many samples …"""
    min_duration: float = 10.0
    """… or lasts at least this long [s] (to the next step's first sample); else a glitch."""
    dynamic_join: float = 60.0
    """Steps shorter than this [s] next to a varying-current one join one dynamic step."""

    def __post_init__(self) -> None:
        for name in ("rest_current", "rest_current_floor", "current", "voltage", "power"):
            if not getattr(self, name) > 0:
                raise ValueError(f"StepTolerances.{name} must be positive")
        if not 0 < self.rest_hysteresis <= 1:
            raise ValueError("StepTolerances.rest_hysteresis must be in (0, 1]")
        if self.min_samples < 1 or self.min_duration < 0 or self.dynamic_join < 0:
            raise ValueError(
                "StepTolerances.min_samples must be at least 1, min_duration and "
                "dynamic_join non-negative"
            )


# ---------------------------------------------------------------------------- helpers


def _floats(name: str, values: Any, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} values; time has {length}")
    return array


def _med3(x: np.ndarray) -> np.ndarray:
    """3-sample running median (ends kept): removes single-sample glitches, keeps edges."""
    out = x.copy()
    if len(x) >= 3:
        a, b, c = x[:-2], x[1:-1], x[2:]
        out[1:-1] = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return out


def _change_starts(labels: np.ndarray) -> np.ndarray:
    """First rows of the runs of equal consecutive values."""
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])


def _ends(starts: np.ndarray, n: int) -> np.ndarray:
    return np.append(starts[1:], n)


def _spans(starts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Time from each segment's first sample to the next one's (the last: to the end)."""
    following: np.ndarray = np.append(t[starts[1:]], t[-1])
    spans: np.ndarray = following - t[starts]
    return spans


def _glitches(
    starts: np.ndarray, t: np.ndarray, tol: StepTolerances, *, by_duration: bool = True
) -> np.ndarray:
    few: np.ndarray = np.diff(np.append(starts, len(t))) < tol.min_samples
    return few & (_spans(starts, t) < tol.min_duration) if by_duration else few


def _fill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs (leading NaNs backward-filled)."""
    valid = ~np.isnan(values)
    if not valid.any():
        return values
    index = np.where(valid, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    index[: int(np.argmax(valid))] = int(np.argmax(valid))
    return values[index]


def _median5(x: np.ndarray, centre: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Median of up to five samples around ``centre``, within rows ``[lo, hi)``."""
    index = np.clip(centre[:, None] + np.arange(-2, 3), lo[:, None], (hi - 1)[:, None])
    return np.asarray(np.median(x[index], axis=1))


def _direction(ism: np.ndarray, rest: float, hysteresis: float) -> np.ndarray:
    """-1 charge, 0 rest, +1 discharge per sample, with hysteresis around ``rest``."""
    size = np.abs(ism)
    state = np.full(len(ism), np.nan)
    active = size > rest
    state[active] = np.sign(ism[active])
    state[size < hysteresis * rest] = 0.0
    if len(state) and np.isnan(state[0]):
        state[0] = np.sign(ism[0])
    return _fill(state)


def _merge_glitch_runs(state: np.ndarray, t: np.ndarray, tol: StepTolerances) -> np.ndarray:
    """Direction runs that are glitches take the direction of the run before them."""
    starts = _change_starts(state)
    glitch = _glitches(starts, t, tol)
    if not glitch.any() or glitch.all():
        return state
    labels = state[starts].copy()
    labels[glitch] = np.nan
    return np.repeat(_fill(labels), np.diff(np.r_[starts, len(t)]))


def _absorb_glitches(
    starts: np.ndarray, run_start: np.ndarray, t: np.ndarray, tol: StepTolerances
) -> np.ndarray:
    """Segments of fewer than ``min_samples`` samples (however long: one sample of a sparse
    log is a transition) join the segment before them in their run (the first of a run joins
    the one after)."""
    for _ in range(4):
        glitch = _glitches(starts, t, tol, by_duration=False)
        if not glitch.any():
            break
        own = run_start[starts]
        keep = ~(glitch & ~own)
        after = np.flatnonzero(glitch & own) + 1
        after = after[after < len(starts)]
        keep[after[~own[after]]] = False
        if keep.all():
            break
        starts = starts[keep]
    return starts


def _step_integrals(
    y: np.ndarray, t: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the trapezoidal integrals over its own rows of the positive and negative
    parts of ``y`` (both non-negative)."""
    dt = np.diff(t)
    out = []
    for part in (np.clip(y, 0, None), np.clip(-y, 0, None)):
        running = np.r_[0.0, np.cumsum(0.5 * (part[1:] + part[:-1]) * dt)]
        out.append(running[ends - 1] - running[starts])
    return out[0], out[1]


class _Segments:
    """Per-segment features of a segmentation (``starts``; rows ``[start, end)``)."""

    def __init__(
        self,
        starts: np.ndarray,
        signals: _Signals,
        tol: StepTolerances,
    ) -> None:
        s = signals
        n = len(s.t)
        self.starts = starts
        self.ends = ends = _ends(starts, n)
        self.count = count = ends - starts
        self.span = _spans(starts, s.t)
        low = np.minimum.reduceat(s.state, starts)
        high = np.maximum.reduceat(s.state, starts)
        self.direction = np.where(low == high, low, np.nan)  # NaN: mixed
        first, last = starts, ends - 1
        self.i_start = _median5(s.size, np.minimum(first + 2, last), first, ends)
        self.i_end = _median5(s.size, np.maximum(last - 2, first), first, ends)
        middle = (first + last) // 2
        self.level = _median5(s.size, middle, first, ends)
        interior = np.ones(n, dtype=bool)
        long = count >= 4
        interior[first[long]] = False
        interior[last[long]] = False
        row_segment = np.repeat(np.arange(len(starts)), count)
        level = self.level[row_segment]
        outside = np.abs(s.size - level) > tol.current * level + s.rest
        self.cc_outside = np.add.reduceat((outside & interior).astype(np.int64), starts)
        power = np.abs(s.power_filtered)
        power_level = _median5(power, middle, first, ends)[row_segment]
        p_outside = np.abs(power - power_level) > tol.power * power_level + s.rest * s.v_scale
        self.cp_outside = np.add.reduceat((p_outside & interior).astype(np.int64), starts)
        self.allowed = np.maximum(1, count // 100)
        self.v_max = np.maximum.reduceat(np.where(interior, s.v, -np.inf), starts)
        self.v_min = np.minimum.reduceat(np.where(interior, s.v, np.inf), starts)
        self.v_range = self.v_max - self.v_min
        self.v_mid = s.v[middle]

    def types(self, tol: StepTolerances) -> np.ndarray:
        """Type codes (indices into :data:`STEP_TYPES`)."""
        d = self.direction
        active = np.isfinite(d) & (d != 0)
        cc = active & (self.cc_outside <= self.allowed)
        decays = self.i_end < (1 - tol.current) * self.i_start
        cv = active & ~cc & (self.v_range <= tol.voltage) & decays & (self.count >= 2)
        cp = active & ~cc & ~cv & (self.cp_outside <= self.allowed)
        charge = d < 0
        codes = np.full(len(d), _TYPE_CODES[DYNAMIC])
        for mask, on_charge, on_discharge in (
            (cc, CC_CHARGE, CC_DISCHARGE),
            (cv, CV_CHARGE, CV_DISCHARGE),
            (cp, CP_CHARGE, CP_DISCHARGE),
        ):
            codes[mask & charge] = _TYPE_CODES[on_charge]
            codes[mask & ~charge] = _TYPE_CODES[on_discharge]
        codes[d == 0] = _TYPE_CODES[REST]
        return codes


@dataclass
class _Signals:
    t: np.ndarray
    i: np.ndarray
    v: np.ndarray
    ism: np.ndarray  # 3-sample median of the current
    size: np.ndarray  # |ism|
    power_filtered: np.ndarray
    state: np.ndarray  # -1 / 0 / +1 per sample
    rest: float  # rest threshold [A]
    v_scale: float  # a typical |V| (turns the current floor into a power floor)


def _signals(t: np.ndarray, i: np.ndarray, v: np.ndarray, tol: StepTolerances) -> _Signals:
    ism = _med3(i)
    size = np.abs(ism)
    rest = max(tol.rest_current * float(size.max()), tol.rest_current_floor)
    state = _merge_glitch_runs(_direction(ism, rest, tol.rest_hysteresis), t, tol)
    v_scale = float(np.median(np.abs(v))) or 1.0
    return _Signals(t, i, v, ism, size, _med3(v * i), state, rest, v_scale)


# ---------------------------------------------------------------------------- detection


def _departures(
    starts: np.ndarray, s: _Signals, tol: StepTolerances
) -> tuple[np.ndarray, np.ndarray]:
    """(start level, first row where the current leaves it for good (``end`` if never)) per
    segment: it and the next ``min_samples - 1`` rows (up to the segment's end) deviate by
    more than ``current``. Rows among a segment's first two never count (a ramp into the
    step)."""
    n = len(s.t)
    ends = _ends(starts, n)
    count = ends - starts
    anchor = _median5(s.size, np.minimum(starts + 2, ends - 1), starts, ends)
    rows = np.repeat(anchor, count)
    deviates = np.abs(s.size - rows) > tol.current * rows + s.rest
    running = np.r_[0, np.cumsum(deviates)]
    window_end = np.minimum(np.arange(n) + tol.min_samples, np.repeat(ends, count))
    lasting = (running[window_end] - running[:-1]) == (window_end - np.arange(n))
    offset = np.arange(n) - np.repeat(starts, count)
    candidates = np.where(lasting & (offset >= 2), np.arange(n), n)
    first = np.minimum.reduceat(candidates, starts)
    return anchor, np.minimum(first, ends)


def _split_prefixes(starts: np.ndarray, s: _Signals, tol: StepTolerances) -> np.ndarray:
    """Split active segments whose current leaves a flat starting level for good while the
    voltage then holds (CC → CV without a jump). The boundary is the last sample within the
    start level's noise (five standard deviations estimated from sample-to-sample changes,
    at least 0.1 % of the level). A start is flat when the mean currents of its two halves
    differ by at most a quarter of ``current`` (a decay from the first sample fails this);
    the voltage holds when its range after the departure (last sample aside) is within
    ``voltage`` (a slow current ramp, a constant-power step, fails this)."""
    n = len(s.t)
    rows = np.arange(n)
    ends = _ends(starts, n)
    count = ends - starts
    _, leave = _departures(starts, s, tol)
    ok = s.state[starts] != 0
    ok &= (leave - starts >= tol.min_samples) & (ends - leave >= tol.min_samples)
    if not ok.any():
        return starts
    row_segment = np.repeat(np.arange(len(starts)), count)
    after = ok[row_segment] & (rows >= leave[row_segment]) & (rows < ends[row_segment] - 1)
    high = np.maximum.reduceat(np.where(after, s.v, -np.inf), starts)
    low = np.minimum.reduceat(np.where(after, s.v, np.inf), starts)
    ok &= high - low <= tol.voltage
    if not ok.any():
        return starts
    offset = rows - starts[row_segment]
    middle = (starts + 2 + leave) // 2
    flat = ok[row_segment] & (offset >= 2) & (rows < leave[row_segment])
    halves = []
    for part in (flat & (rows < middle[row_segment]), flat & (rows >= middle[row_segment])):
        total = np.add.reduceat(np.where(part, s.size, 0.0), starts)
        halves.append(total / np.maximum(np.add.reduceat(part.astype(np.int64), starts), 1))
    level = halves[0]  # the second half may hold the start of the decay
    ok &= np.abs(halves[0] - halves[1]) <= 0.25 * tol.current * level + s.rest
    if not ok.any():
        return starts
    flat &= ok[row_segment]
    # noise: for independent normal errors E|x₁ − x₂| = 2σ/√π, so σ ≈ 0.886 × mean |Δ|
    change = np.r_[0.0, np.abs(np.diff(np.abs(s.i)))]
    noisy = flat & (offset >= 3)
    spread = np.add.reduceat(np.where(noisy, change, 0.0), starts)
    sigma = 0.886 * spread / np.maximum(np.add.reduceat(noisy.astype(np.int64), starts), 1)
    band = np.maximum(5.0 * sigma, 1e-3 * level) + 1e-3 * s.rest
    inside = flat & (np.abs(s.size - level[row_segment]) <= band[row_segment])
    last_inside = np.maximum.reduceat(np.where(inside, rows, -1), starts)
    boundary = np.where(last_inside >= 0, last_inside + 1, leave)
    boundary = np.clip(boundary, starts + tol.min_samples, leave)
    return np.union1d(starts, boundary[ok])


def _merge_same_level(
    starts: np.ndarray, seg: _Segments, codes: np.ndarray, s: _Signals, tol: StepTolerances
) -> np.ndarray:
    """Neighbouring constant-current segments of one direction at one level merge."""
    cc = np.isin(codes, _CC_CODES)
    a, b = seg.level[:-1], seg.level[1:]
    join = (
        cc[1:]
        & cc[:-1]
        & (seg.direction[1:] == seg.direction[:-1])
        & (np.abs(b - a) <= tol.current * np.maximum(a, b) + s.rest)
    )
    return starts[np.r_[True, ~join]]


def _merge_cv_chains(
    starts: np.ndarray, seg: _Segments, codes: np.ndarray, s: _Signals, tol: StepTolerances
) -> np.ndarray:
    """Chains of decaying pieces at one voltage (a sparsely logged CV hold) merge, when the
    chain holds a piece that is not constant-current and its voltage range is small."""
    if len(starts) < 2:
        return starts
    d = seg.direction
    steady = seg.v_range <= tol.voltage
    join = (
        (d[1:] == d[:-1])
        & (d[1:] != 0)
        & steady[1:]
        & steady[:-1]
        & (seg.i_start[1:] <= (1 + tol.current) * seg.i_end[:-1])
        & (np.abs(seg.v_mid[1:] - seg.v_mid[:-1]) <= tol.voltage)
    )
    if not join.any():
        return starts
    chain = np.cumsum(np.r_[True, ~join]) - 1
    chain_starts = np.flatnonzero(np.r_[True, ~join])
    cc = np.isin(codes, _CC_CODES)
    loose = ~cc | (seg.count < tol.min_samples)
    has_loose = np.add.reduceat(loose.astype(np.int64), chain_starts) > 0
    v_hi = np.maximum.reduceat(np.maximum(seg.v_max, seg.v_mid), chain_starts)
    v_lo = np.minimum.reduceat(np.minimum(seg.v_min, seg.v_mid), chain_starts)
    first_level = seg.i_start[chain_starts]
    last_level = seg.i_end[np.r_[chain_starts[1:], len(starts)] - 1]
    good = has_loose & (v_hi - v_lo <= tol.voltage) & (last_level < (1 - tol.current) * first_level)
    join &= good[chain[1:]]
    return starts[np.r_[True, ~join]]


def _merge_dynamic(
    starts: np.ndarray, seg: _Segments, codes: np.ndarray, tol: StepTolerances
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of short or dynamic segments holding a dynamic one become one dynamic step."""
    dynamic = codes == _TYPE_CODES[DYNAMIC]
    joinable = dynamic | (seg.span < tol.dynamic_join)
    if len(starts) < 2 or not dynamic.any():
        return starts, codes
    join = joinable[1:] & joinable[:-1]
    block_starts = np.flatnonzero(np.r_[True, ~join])
    block = np.cumsum(np.r_[True, ~join]) - 1
    members = np.diff(np.r_[block_starts, len(starts)])
    holds = np.add.reduceat(dynamic.astype(np.int64), block_starts) > 0
    merge_block = holds & (members >= 2)
    join &= merge_block[block[1:]]
    keep = np.r_[True, ~join]
    new_codes = codes.copy()
    new_codes[merge_block[block]] = _TYPE_CODES[DYNAMIC]
    return starts[keep], new_codes[keep]


def _detect(s: _Signals, tol: StepTolerances) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each step, type codes)."""
    n = len(s.t)
    run_starts = _change_starts(s.state)
    run_start = np.zeros(n, dtype=bool)
    run_start[run_starts] = True
    jump = np.zeros(n, dtype=bool)
    if n > 1:
        a, b = s.size[:-1], s.size[1:]
        jump[1:] = (
            (np.abs(s.ism[1:] - s.ism[:-1]) > tol.current * np.maximum(a, b) + s.rest)
            & (s.state[1:] == s.state[:-1])
            & (s.state[1:] != 0)
        )
    starts = np.flatnonzero(run_start | jump)
    starts = _absorb_glitches(starts, run_start, s.t, tol)
    starts = _split_prefixes(starts, s, tol)
    seg = _Segments(starts, s, tol)
    starts = _merge_same_level(starts, seg, seg.types(tol), s, tol)
    seg = _Segments(starts, s, tol)
    starts = _merge_cv_chains(starts, seg, seg.types(tol), s, tol)
    seg = _Segments(starts, s, tol)
    return _merge_dynamic(starts, seg, seg.types(tol), tol)


def _cycler_step_types(starts: np.ndarray, s: _Signals, tol: StepTolerances) -> np.ndarray:
    """Types of given steps: direction from the mean filtered current; a combined CC-CV step
    is recognised by splitting it as the detector would."""
    counts = np.diff(np.r_[starts, len(s.t)])
    mean = np.add.reduceat(s.ism, starts) / counts
    mean_size = np.add.reduceat(s.size, starts) / counts
    direction = np.where(mean_size <= s.rest, 0.0, np.sign(mean))
    own = replace(s, state=np.repeat(direction, counts))
    codes = _Segments(starts, own, tol).types(tol)
    if not (codes == _TYPE_CODES[DYNAMIC]).any():
        return codes
    split = _split_prefixes(starts, own, tol)
    parts = _Segments(split, own, tol).types(tol)
    owner = np.searchsorted(starts, split, side="right") - 1
    pieces = np.bincount(owner, minlength=len(starts))
    first = np.searchsorted(owner, np.arange(len(starts)))  # first piece of each step
    two = np.flatnonzero((pieces == 2) & (codes == _TYPE_CODES[DYNAMIC]))
    head, tail = parts[first[two]], parts[first[two] + 1]
    cc_head = np.isin(head, _CC_CODES)
    codes[two[cc_head & (tail == _TYPE_CODES[CV_CHARGE])]] = _TYPE_CODES[CCCV_CHARGE]
    codes[two[cc_head & (tail == _TYPE_CODES[CV_DISCHARGE])]] = _TYPE_CODES[CCCV_DISCHARGE]
    return codes


# ---------------------------------------------------------------------------- cycles


def _step_directions(codes: np.ndarray, discharge: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """-1 charge, 0 none, +1 discharge per step; a dynamic step by its net capacity."""
    direction = _CODE_DIRECTIONS[codes]
    net = discharge - charge
    clear = np.abs(net) >= _NET_SHARE * (discharge + charge)
    dynamic = codes == _TYPE_CODES[DYNAMIC]
    return np.where(dynamic, np.where(clear, np.sign(net), 0.0), direction)


def _cycle_numbers(
    direction: np.ndarray, throughput: np.ndarray, cycle_start: CycleStart
) -> np.ndarray:
    if cycle_start == "charge":
        lead = -1.0
    elif cycle_start == "discharge":
        lead = 1.0
    elif cycle_start == "auto":
        big = (direction != 0) & (throughput >= _LEAD_SHARE * throughput.max(initial=0.0))
        lead = float(direction[np.argmax(big)]) if big.any() else 0.0
    else:
        raise ValueError(
            f"cycle_start must be 'auto', 'charge' or 'discharge', not {cycle_start!r}"
        )
    if lead == 0:
        return np.zeros(len(direction), dtype=np.int64)
    previous = _fill(np.where(direction != 0, direction, np.nan))
    previous = np.r_[np.nan, previous[:-1]]
    new = (direction == lead) & (previous == -lead)
    return np.cumsum(new).astype(np.int64)


# ---------------------------------------------------------------------------- summaries


def _weighted_means(
    y: np.ndarray, t: np.ndarray, starts: np.ndarray, ends: np.ndarray, row_step: np.ndarray
) -> np.ndarray:
    """Time-weighted (trapezoidal) mean per step; NaN samples carry no weight; the plain mean
    of the finite samples when the step has no duration; NaN when none is finite."""
    n = len(t)
    dt = np.diff(t)
    same = row_step[1:] == row_step[:-1]
    inner = np.where(same, dt, 0.0)
    weight = 0.5 * (np.r_[inner, 0.0] + np.r_[0.0, inner]) if n > 1 else np.zeros(n)
    finite = np.isfinite(y)
    values = np.where(finite, y, 0.0)
    weight = np.where(finite, weight, 0.0)
    total = np.add.reduceat(weight, starts)
    weighted = np.add.reduceat(weight * values, starts)
    counted = np.add.reduceat(finite.astype(np.float64), starts)
    plain = np.add.reduceat(values, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        plain_mean = np.where(counted > 0, plain / np.maximum(counted, 1.0), np.nan)
        return np.where(total > 0, weighted / np.where(total > 0, total, 1.0), plain_mean)


def _stds(
    y: np.ndarray, starts: np.ndarray, counts: np.ndarray, row_step: np.ndarray
) -> np.ndarray:
    mean = np.add.reduceat(y, starts) / counts
    squares = np.add.reduceat((y - mean[row_step]) ** 2, starts)
    return np.where(counts > 1, np.sqrt(squares / np.maximum(counts - 1, 1)), 0.0)


def _summarise(
    t: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
    temperature: np.ndarray | None,
    starts: np.ndarray,
    codes: np.ndarray,
) -> dict[str, np.ndarray]:
    n = len(t)
    ends = _ends(starts, n)
    counts = ends - starts
    last = ends - 1
    row_step = np.repeat(np.arange(len(starts)), counts)
    p = v * i
    discharge, charge = _step_integrals(i, t, starts, ends)
    discharge_energy, charge_energy = _step_integrals(p, t, starts, ends)
    columns: dict[str, np.ndarray] = {
        "Step count": np.arange(len(starts), dtype=np.int64),
        "Step type": np.asarray(STEP_TYPES, dtype=object)[codes],
        "Start index": starts.astype(np.int64),
        "End index": last.astype(np.int64),
        "Start time [s]": t[starts],
        "End time [s]": t[last],
        "Duration [s]": t[last] - t[starts],
    }
    for name, unit, y in (("voltage", "V", v), ("current", "A", i), ("power", "W", p)):
        columns[f"Start {name} [{unit}]"] = y[starts]
        columns[f"End {name} [{unit}]"] = y[last]
        columns[f"Min {name} [{unit}]"] = np.minimum.reduceat(y, starts)
        columns[f"Max {name} [{unit}]"] = np.maximum.reduceat(y, starts)
        columns[f"Mean {name} [{unit}]"] = _weighted_means(y, t, starts, ends, row_step)
        columns[f"Std {name} [{unit}]"] = _stds(y, starts, counts, row_step)
    columns["Discharge capacity [A.h]"] = discharge / _HOUR
    columns["Charge capacity [A.h]"] = charge / _HOUR
    columns["Discharge energy [W.h]"] = discharge_energy / _HOUR
    columns["Charge energy [W.h]"] = charge_energy / _HOUR
    if temperature is not None:
        columns["Mean temperature [degC]"] = _weighted_means(temperature, t, starts, ends, row_step)
    return columns


def _cycle_totals(steps: pl.DataFrame) -> pl.DataFrame:
    totals = [
        ("Discharge capacity [A.h]", "Cycle discharge capacity [A.h]"),
        ("Charge capacity [A.h]", "Cycle charge capacity [A.h]"),
        ("Discharge energy [W.h]", "Cycle discharge energy [W.h]"),
        ("Charge energy [W.h]", "Cycle charge energy [W.h]"),
    ]
    return steps.with_columns(
        pl.col(source).sum().over("Cycle count").alias(target) for source, target in totals
    )


# ---------------------------------------------------------------------------- public API


def detect_steps(
    time: Any,
    current: Any,
    voltage: Any,
    temperature: Any = None,
    *,
    step: Any = None,
    cycle: Any = None,
    tolerances: StepTolerances | None = None,
    cycle_start: CycleStart = "auto",
) -> pl.DataFrame:
    """The steps table of a time series: one row per step (module docstring for the rules).

    ``time`` [s] non-decreasing, ``current`` [A] positive on discharge, ``voltage`` [V],
    optional ``temperature`` [°C] (NaN allowed); all one-dimensional and as long as
    ``time``. ``step``: a step index per row (the cycler's) — its steps are then only typed
    and summarised (its values go to ``Step from cycler``). ``cycle``: a cycle index per row
    (the cycler's) — cycles then follow it (its values go to ``Cycle from cycler``).
    """
    tol = tolerances or StepTolerances()
    t = _floats("time", time)
    n = len(t)
    if n == 0:
        raise ValueError("the time series has no rows")
    i = _floats("current", current, n)
    v = _floats("voltage", voltage, n)
    temp = None if temperature is None else _floats("temperature", temperature, n)
    for name, array in (("time", t), ("current", i), ("voltage", v)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} has values that are not finite numbers")
    if n > 1 and (np.diff(t) < 0).any():
        raise ValueError("time goes backwards; it must be non-decreasing")
    s = _signals(t, i, v, tol)
    step_values = None if step is None else np.asarray(step)
    if step_values is not None:
        if step_values.shape != (n,):
            raise ValueError(f"step has {len(step_values)} values; time has {n}")
        starts = _change_starts(step_values)
        codes = _cycler_step_types(starts, s, tol)
    else:
        starts, codes = _detect(s, tol)
    columns = _summarise(t, i, v, temp, starts, codes)
    cycler_cycles = None
    if cycle is not None:
        cycle_values = np.asarray(cycle)
        if cycle_values.shape != (n,):
            raise ValueError(f"cycle has {len(cycle_values)} values; time has {n}")
        cycler_cycles = cycle_values[starts]
        changes = np.r_[False, cycler_cycles[1:] != cycler_cycles[:-1]]
        cycles = np.cumsum(changes).astype(np.int64)
    else:
        discharge = columns["Discharge capacity [A.h]"]
        charge = columns["Charge capacity [A.h]"]
        direction = _step_directions(codes, discharge, charge)
        cycles = _cycle_numbers(direction, discharge + charge, cycle_start)
    ordered: dict[str, Any] = {
        "Step count": columns.pop("Step count"),
        "Cycle count": cycles,
        "Step type": columns.pop("Step type"),
    }
    if step_values is not None:
        ordered["Step from cycler"] = step_values[starts]
    if cycler_cycles is not None:
        ordered["Cycle from cycler"] = cycler_cycles
    ordered.update(columns)
    frame = pl.DataFrame(
        {
            name: list(values) if values.dtype == object else values
            for name, values in ordered.items()
        }
    )
    if temp is not None:  # a step without a finite temperature has none (null, not NaN)
        frame = frame.with_columns(pl.col("Mean temperature [degC]").fill_nan(None))
    return _cycle_totals(frame)


def cycles_table(steps: pl.DataFrame) -> pl.DataFrame:
    """One row per cycle of a steps table (:func:`detect_steps`): ``Cycle count``, the
    cycler's cycle when known, first/last row and time, ``Cycle duration [s]``, ``Number of
    steps``, charge/discharge capacity [A.h] and energy [W.h] (sums of the steps'),
    ``Coulombic efficiency`` and ``Energy efficiency`` (discharge / charge, null when nothing
    was charged), ``Capacity retention`` (discharge against the first cycle's, null if that
    was 0), min/max voltage, charge and discharge durations (of the steps typed so) and the
    duration-weighted ``Mean temperature [degC]`` when the steps have one."""
    discharge_step = pl.col("Step type").str.ends_with("discharge")
    charge_step = pl.col("Step type").str.ends_with("charge") & ~discharge_step
    aggregations = [
        pl.col("Start index").min(),
        pl.col("End index").max(),
        pl.col("Start time [s]").min(),
        pl.col("End time [s]").max(),
        pl.len().cast(pl.Int64).alias("Number of steps"),
        pl.col("Discharge capacity [A.h]").sum(),
        pl.col("Charge capacity [A.h]").sum(),
        pl.col("Discharge energy [W.h]").sum(),
        pl.col("Charge energy [W.h]").sum(),
        pl.col("Min voltage [V]").min(),
        pl.col("Max voltage [V]").max(),
        pl.col("Duration [s]").filter(discharge_step).sum().alias("Discharge duration [s]"),
        pl.col("Duration [s]").filter(charge_step).sum().alias("Charge duration [s]"),
    ]
    if "Cycle from cycler" in steps.columns:
        aggregations.insert(0, pl.col("Cycle from cycler").first())
    if "Mean temperature [degC]" in steps.columns:
        known = pl.col("Mean temperature [degC]").is_not_null()
        weight = pl.col("Duration [s]").filter(known)
        aggregations.append(
            pl.when(weight.sum() > 0)
            .then((pl.col("Mean temperature [degC]").filter(known) * weight).sum() / weight.sum())
            .otherwise(pl.col("Mean temperature [degC]").filter(known).mean())
            .alias("Mean temperature [degC]")
        )
    cycles = steps.group_by("Cycle count", maintain_order=True).agg(aggregations)
    first_discharge = cycles["Discharge capacity [A.h]"][0] if cycles.height else 0.0

    def ratio(top: str, bottom: str) -> pl.Expr:
        return pl.when(pl.col(bottom) > 0).then(pl.col(top) / pl.col(bottom)).otherwise(None)

    retention = (
        pl.col("Discharge capacity [A.h]") / first_discharge
        if first_discharge > 0
        else pl.lit(None, dtype=pl.Float64)
    )
    cycles = cycles.with_columns(
        (pl.col("End time [s]") - pl.col("Start time [s]")).alias("Cycle duration [s]"),
        ratio("Discharge capacity [A.h]", "Charge capacity [A.h]").alias("Coulombic efficiency"),
        ratio("Discharge energy [W.h]", "Charge energy [W.h]").alias("Energy efficiency"),
        retention.alias("Capacity retention"),
    )
    order = [
        "Cycle count", "Cycle from cycler", "Start index", "End index", "Start time [s]",
        "End time [s]", "Cycle duration [s]", "Number of steps", "Discharge capacity [A.h]",
        "Charge capacity [A.h]", "Coulombic efficiency", "Discharge energy [W.h]",
        "Charge energy [W.h]", "Energy efficiency", "Capacity retention", "Min voltage [V]",
        "Max voltage [V]", "Discharge duration [s]", "Charge duration [s]",
        "Mean temperature [degC]",
    ]  # fmt: skip
    return cycles.select([name for name in order if name in cycles.columns])


def row_labels(steps: pl.DataFrame) -> pl.DataFrame:
    """``Step count`` and ``Cycle count`` per time-series row, from a steps table."""
    counts = (steps["End index"] - steps["Start index"] + 1).to_numpy()
    return pl.DataFrame(
        {
            "Step count": np.repeat(steps["Step count"].to_numpy(), counts),
            "Cycle count": np.repeat(steps["Cycle count"].to_numpy(), counts),
        }
    )


def _first_column(frame: pl.DataFrame, names: Sequence[str]) -> str | None:
    return next((name for name in names if name in frame.columns), None)


def steps_and_cycles(
    frame: pl.DataFrame,
    *,
    tolerances: StepTolerances | None = None,
    cycle_start: CycleStart = "auto",
    use_step_column: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(steps, cycles)`` of a time-series frame with the measurement columns (wire.md §10):
    its step index (:data:`STEP_COLUMNS`) is honoured unless ``use_step_column`` is false,
    its cycle index (:data:`CYCLE_COLUMNS`) and temperature (:data:`TEMPERATURE_COLUMNS`)
    are used when present. ``Step from cycler`` and ``Cycle from cycler`` are in the steps
    table when the frame has them (their values at each step's first row)."""
    step_name = _first_column(frame, STEP_COLUMNS) if use_step_column else None
    cycle_name = _first_column(frame, CYCLE_COLUMNS)
    temperature_name = _first_column(frame, TEMPERATURE_COLUMNS)
    steps = detect_steps(
        frame["Time [s]"].to_numpy(),
        frame["Current [A]"].to_numpy(),
        frame["Voltage [V]"].to_numpy(),
        None if temperature_name is None else frame[temperature_name].to_numpy(),
        step=None if step_name is None else frame[step_name].to_numpy(),
        cycle=None if cycle_name is None else frame[cycle_name].to_numpy(),
        tolerances=tolerances,
        cycle_start=cycle_start,
    )
    first_rows = steps["Start index"]
    for position, name in ((3, "Step from cycler"), (4, "Cycle from cycler")):
        if name in frame.columns:
            values = frame[name].gather(first_rows)
            steps = steps.drop(name, strict=False).insert_column(position, values)
        else:
            steps = steps.drop(name, strict=False)
    return steps, cycles_table(steps)
