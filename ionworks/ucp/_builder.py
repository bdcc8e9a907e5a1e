"""Creation of PyBaMM step objects for :mod:`.to_pybamm` (imports PyBaMM lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Issue, Origin, UCPError
from .model import Protocol, SafetyLimits, Step, Value
from .samples import step_samples

__all__ = ["KELVIN", "Builder", "number"]

KELVIN = 273.15
_PROTOCOL = Origin("protocol", "protocol")


def number(value: Value | None) -> float:
    """The constant of a resolved value."""
    result = None if value is None else value.number
    if result is None:
        raise ValueError("protocol is not resolved; call resolve_inputs() first")
    return float(result)


class Builder:
    """Creates PyBaMM step objects (cached per source step and temperature)."""

    def __init__(
        self,
        pybamm: Any,
        capacity: float | None,
        drive_cycles: Mapping[str, Any],
        safety: SafetyLimits | None,
    ) -> None:
        from ._terminations import Threshold

        self.pybamm = pybamm
        self.threshold = Threshold
        self.capacity = capacity
        self.drive_cycles = drive_cycles
        self.cache: dict[tuple[int, float | None], Any] = {}
        self.safety: list[tuple[tuple[str, str, float] | None, Any]] = []
        self.safety_issues: list[Issue] = []
        self.limits: list[tuple[str, float, str]] = []
        if safety is not None:
            self._safety(safety)

    def _safety(self, safety: SafetyLimits) -> None:
        spec = {
            "voltage_min": ("Voltage", "<", "Voltage [V]", 1.0),
            "voltage_max": ("Voltage", ">", "Voltage [V]", 1.0),
            "temperature_min": ("Temperature", "<", "Volume-averaged cell temperature [K]", 1.0),
            "temperature_max": ("Temperature", ">", "Volume-averaged cell temperature [K]", 1.0),
            "discharge_current_max": ("Current", ">", "Current [A]", 1.0),
            "charge_current_max": ("Current", ">", "Current [A]", -1.0),
        }
        for key, limit in safety.limits():
            quantity, operator, variable, sign = spec[key]
            target = safety.target(limit)
            if target.lower() not in ("end", "next"):
                origin = limit.value.origin or _PROTOCOL
                self.safety_issues.append(
                    origin.issue(
                        "goto",
                        f"goto {target!r} on safety limit {key!r} cannot be simulated (a PyBaMM "
                        "experiment is linear); only 'End' or 'next' are supported",
                    )
                )
                continue
            value = number(limit.value)
            threshold = value + KELVIN if quantity == "Temperature" else value
            term = self.threshold(
                f"Safety {key} {operator} {value:g}",
                variable,
                operator,
                threshold,
                sign=sign,
                ends_step=target.lower() == "next",
            )
            shadow = (quantity, operator, value) if quantity != "Current" else None
            self.safety.append((shadow, term))
            self.limits.append((key, value, target.lower()))

    def breach(self, step: Step) -> tuple[str, str] | None:
        """``(message, target)`` when a step breaches a safety limit at its very start
        (a set-point beyond a current or voltage limit), else ``None``."""
        if step.kind not in ("Charge", "Discharge") or step.value is None:
            return None
        value = number(step.value)
        if step.mode == "C-rate" and self.capacity is not None:
            value, unit = value * self.capacity, "A"
        elif step.mode in ("Current", "Voltage"):
            unit = "A" if step.mode == "Current" else "V"
        else:
            return None
        for key, limit, target in self.limits:
            current_key = f"{step.kind.lower()}_current_max"
            beyond = (
                (unit == "A" and key == current_key and value > limit)
                or (unit == "V" and key == "voltage_max" and value > limit)
                or (unit == "V" and key == "voltage_min" and value < limit)
            )
            if beyond:
                return (
                    f"{step.path} breaches safety limit {key} ({value:g} {unit} vs {limit:g} {unit})",
                    target,
                )
        return None

    def check(self, protocol: Protocol) -> list[Issue]:
        """Every refusal, for every source step, in one pass."""
        issues = list(self.safety_issues)
        for step in protocol.steps():
            try:
                self.build(step, None)
            except UCPError as error:
                issues.extend(error.issues)
        return issues

    def build(self, step: Step, temperature_c: float | None) -> Any:
        key = (id(step), temperature_c)
        if key not in self.cache:
            self.cache[key] = self._build(step, temperature_c)
        return self.cache[key]

    def _refuse(self, step: Step, code: str, message: str) -> UCPError:
        return UCPError.single(step.origin or Origin(step.path, step.path), code, message)

    def _build(self, step: Step, temperature_c: float | None) -> Any:
        pb = self.pybamm.step
        if step.kind == "EIS":
            raise self._refuse(
                step, "unsupported", "EIS has no time-domain equivalent in a PyBaMM experiment"
            )
        terminations, durations = self._terminations(step)
        if step.duration is not None:
            durations.append(number(step.duration))
        kwargs: dict[str, Any] = {
            "duration": min(durations) if durations else None,
            "termination": terminations or None,
            "temperature": None if temperature_c is None else temperature_c + KELVIN,
            "description": f"{step.path}: {_summary(step)}",
        }
        if step.resolution is not None and step.resolution.time is not None:
            kwargs["period"] = number(step.resolution.time)
        if step.kind in ("Rest", "Ambient temperature"):
            return pb.rest(**kwargs)
        factories = {
            "C-rate": pb.c_rate,
            "Current": pb.current,
            "Power": pb.power,
            "Voltage": pb.voltage,
            "Resistance": pb.resistance,
        }
        factory = factories[step.mode or "Current"]
        if step.kind in ("Drive", "Waveform"):
            return factory(self._samples(step), **kwargs)
        if step.mode == "Resistance" and step.kind == "Charge":
            raise self._refuse(
                step,
                "mode",
                "a Charge step in Resistance mode cannot be simulated (a resistive load only discharges)",
            )
        sign = 1.0 if step.kind == "Discharge" or step.mode == "Voltage" else -1.0
        return factory(sign * number(step.value), **kwargs)

    def _terminations(self, step: Step) -> tuple[list[Any], list[float]]:
        terms: list[Any] = []
        durations: list[float] = []
        shadows = {shadow for shadow, _ in self.safety if shadow is not None}
        for end in step.ends:
            value = number(end.value)
            where = f"end condition {end.source!r}"
            if end.derivative:
                raise self._refuse(
                    step, "ends", f"{where}: d/dt end conditions cannot be simulated with PyBaMM"
                )
            goto = (end.goto or "next").lower()
            if goto not in ("end", "next"):
                raise self._refuse(
                    step,
                    "goto",
                    f"{where}: goto {end.goto!r} cannot be simulated (a PyBaMM experiment is linear); only 'End' or 'next' are supported",
                )
            if (end.quantity, end.operator, value) in shadows:
                continue  # the safety limit with the same value wins
            if end.quantity in ("Time", "Capacity"):
                if goto == "end":
                    raise self._refuse(
                        step,
                        "goto",
                        f"{where}: goto 'End' on a {end.quantity} end cannot be simulated",
                    )
                durations.append(
                    value if end.quantity == "Time" else self._capacity_duration(step, value, where)
                )
                continue
            terms.append(self._threshold(end.quantity, end.operator, value, goto == "next"))
        terms.extend(term for _, term in self.safety)
        return terms, durations

    def _threshold(self, quantity: str, operator: str, value: float, ends_step: bool) -> Any:
        variable, unit, magnitude, threshold = {
            "Voltage": ("Voltage [V]", "V", False, value),
            "Current": ("Current [A]", "A", True, value),
            "C-rate": ("C-rate", "C", True, value),
            "Temperature": ("Volume-averaged cell temperature [K]", "°C", False, value + KELVIN),
        }[quantity]
        name = f"{'|' + quantity + '|' if magnitude else quantity} {operator} {value:g} {unit}"
        return self.threshold(
            name, variable, operator, threshold, magnitude=magnitude, ends_step=ends_step
        )

    def _capacity_duration(self, step: Step, capacity: float, where: str) -> float:
        if step.kind not in ("Charge", "Discharge") or step.mode not in ("C-rate", "Current"):
            raise self._refuse(
                step,
                "ends",
                f"{where}: a Capacity end can only be simulated on a constant-current (C-rate or Current) "
                "Charge/Discharge step",
            )
        current = number(step.value)
        if step.mode == "C-rate":
            if self.capacity is None:
                raise self._refuse(
                    step,
                    "ends",
                    f"{where}: needs parameter_values with 'Nominal cell capacity [A.h]'",
                )
            current *= self.capacity
        return capacity / current * 3600

    def _samples(self, step: Step) -> Any:
        import numpy as np

        try:
            rows = step_samples(step, self.drive_cycles)
        except ValueError as exc:
            raise self._refuse(step, "drive cycle", str(exc)) from None
        return np.array(rows, dtype=float)


def _summary(step: Step) -> str:
    parts = [step.kind]
    if step.mode and step.value is not None:
        parts.append(f"{step.mode} {step.value.source} {step.unit}")
    if step.drive_cycle:
        parts.append(step.drive_cycle)
    if step.duration is not None:
        parts.append(f"for {step.duration.source} s")
    if step.ends:
        parts.append("until " + " or ".join(end.source for end in step.ends))
    return " ".join(parts)
