"""Allow-list checks for PyBaMM JSON that comes from clients (docs/security.md).

PyBaMM's deserialisers resolve class names from their input (``importlib.import_module`` and
``getattr`` on any dotted path; ``BaseModel.from_config`` reads ``{"type", "module"}`` from
the ``pybamm`` namespace, where ``"module": "os"`` reaches the ``os`` module). So a serialised
model or parameter expression from a client is checked here, **before** anything it names is
imported or called:

- every name it carries (``$type``, ``py/object``, legacy ``type``, ``class``/``module``,
  ``base_class``, ``base_class_mro``) must resolve, by plain dictionary look-ups in modules
  PyBaMM has already loaded, to a PyBaMM class derived from an expression-tree, model, event,
  mesh or spatial-method base (nothing is imported, no module ``__getattr__`` runs);
- a built-in model config names a class of one of PyBaMM's model modules
  (:data:`MODEL_MODULES`); its options are plain JSON scalars;
- array leaves have a numeric dtype; compressed payloads (opaque to the check) and
  jsonpickle directives other than ``py/object``/``py/id`` are refused.

A failure raises :class:`UnsafeConfig` (an :class:`EngineError`, so routes answer 422) naming
the path inside the request, e.g. ``elements.fit.objectives.a.options.model.module``. The
worker runs the same check again before it deserialises (defence in depth).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final

from .errors import EngineError

__all__ = [
    "MODEL_MODULES",
    "UnsafeConfig",
    "check_model_config",
    "check_parameter_values",
    "check_symbol_tree",
    "model_class_of",
]

#: ``pybamm.<module>`` namespaces a built-in model config may name.
MODEL_MODULES: Final = ("lithium_ion", "lead_acid", "sodium_ion", "equivalent_circuit")
#: Non-class tags of PyBaMM's serialisation kernel.
_LEAF_TAGS: Final = frozenset(
    {"builtins.float", "numpy.ndarray", "builtins.slice", "builtins.tuple", "type"}
)
_DTYPES: Final = frozenset(
    {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool", "complex128"}
)
_DOTTED: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OPTION_SCALARS: Final = (str, int, float, bool, type(None))
#: Keys of a model config besides the type that PyBaMM reads (the rest is walked too).
_MODEL_ROOT_KEYS: Final = ("type", "module", "options")


class UnsafeConfig(EngineError):
    """A client's PyBaMM JSON names something outside the allow-list (or is malformed)."""


def _unsafe(where: str, message: str) -> UnsafeConfig:
    return UnsafeConfig(f"{where}: {message}", code="invalid_config")


def _pybamm() -> ModuleType:
    from ionworks.wire.pybamm import import_pybamm

    module: ModuleType = import_pybamm()
    return module


def _allowed_bases() -> tuple[type, ...]:
    pybamm = _pybamm()
    return (
        pybamm.Symbol,
        pybamm.BaseModel,
        pybamm.Event,
        pybamm.Mesh,
        pybamm.SubMesh,
        pybamm.SpatialMethod,
    )


def _resolve(path: Any, where: str, *, bases: tuple[type, ...] | None = None) -> type:
    """The PyBaMM class at dotted ``path``, found without importing or calling anything."""
    if not isinstance(path, str) or not _DOTTED.fullmatch(path):
        raise _unsafe(where, f"expected a dotted PyBaMM class name, got {_show(path)}")
    parts = path.split(".")
    if parts[0] != "pybamm" or len(parts) < 2:
        raise _unsafe(where, f"{_show(path)} is not a PyBaMM class (only pybamm.* allowed)")
    _pybamm()
    # The longest prefix that is an already-loaded pybamm module, as the deserialiser's
    # import_module would find it; the rest is looked up in __dict__s (no __getattr__ hooks).
    obj: Any = None
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            obj, rest = module, parts[cut:]
            break
    else:  # pragma: no cover - "pybamm" itself is always loaded by _pybamm()
        raise _unsafe(where, f"{_show(path)} is not in a loaded PyBaMM module")
    for part in rest:
        obj = vars(obj).get(part) if isinstance(obj, ModuleType | type) else None
    allowed = bases or _allowed_bases()
    if not (
        isinstance(obj, type)
        and str(obj.__module__).split(".")[0] == "pybamm"
        and issubclass(obj, allowed)
    ):
        kinds = ", ".join(b.__name__ for b in allowed)
        raise _unsafe(where, f"{_show(path)} is not an allowed PyBaMM class ({kinds})")
    return obj


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_names(node: Mapping[str, Any], where: str) -> None:
    """The names one JSON object carries for PyBaMM's deserialisers."""
    for key in node:
        if not isinstance(key, str):
            continue
        if key.startswith("py/") and key not in ("py/object", "py/id"):
            raise _unsafe(f"{where}.{key}", "jsonpickle directives are not accepted")
    if node.get("compressed"):
        raise _unsafe(
            f"{where}.compressed", "compressed models are not accepted; send uncompressed JSON"
        )
    tag = node.get("$type", node.get("py/object"))
    tag_key = "$type" if "$type" in node else "py/object"
    if tag is not None:
        if tag not in _LEAF_TAGS:
            _resolve(tag, f"{where}.{tag_key}")
        elif tag == "type":
            _resolve(node.get("class"), f"{where}.class")
        elif tag == "numpy.ndarray" and node.get("dtype") not in _DTYPES:
            raise _unsafe(f"{where}.dtype", f"expected one of {', '.join(sorted(_DTYPES))}")
    elif "class" in node and "module" in node:  # legacy class reference
        _resolve(f"{node['module']}.{node['class']}", f"{where}.class")
    elif "type" in node:  # legacy symbol node: "Addition" means pybamm.Addition
        kind = node["type"]
        if isinstance(kind, str) and "." not in kind:
            kind = f"pybamm.{kind}"
        _resolve(kind, f"{where}.type")
    if "base_class" in node:
        base = node["base_class"]
        if base not in ("", None, "builtins.object"):
            _resolve(base, f"{where}.base_class", bases=(_pybamm().BaseModel,))
    mro = node.get("base_class_mro")
    if mro is not None:
        if not isinstance(mro, list):
            raise _unsafe(f"{where}.base_class_mro", "expected a list of class names")
        for i, name in enumerate(mro):
            if name != "builtins.object":
                _resolve(name, f"{where}.base_class_mro[{i}]", bases=(_pybamm().BaseModel,))


def check_symbol_tree(tree: Any, where: str) -> None:
    """Check every object of a serialised PyBaMM expression or model (see the module doc)."""
    stack: list[tuple[Any, str]] = [(tree, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            _check_names(node, path)
            stack.extend((value, f"{path}.{key}") for key, value in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise _unsafe(path, "expected a finite number")


def model_class_of(module_name: Any, kind: Any, where: str = "model") -> type:
    """The model class ``pybamm.<module_name>.<kind>`` (allow-listed), else :class:`UnsafeConfig`."""
    pybamm = _pybamm()
    if module_name not in MODEL_MODULES:
        raise _unsafe(
            f"{where}.module",
            f"expected one of {', '.join(MODEL_MODULES)}, got {_show(module_name)}",
        )
    module = vars(pybamm).get(module_name)
    cls = vars(module).get(kind) if isinstance(kind, str) and _NAME.fullmatch(kind) else None
    if not (isinstance(cls, type) and issubclass(cls, pybamm.BaseModel)):
        raise _unsafe(
            f"{where}.type",
            f"{_show(kind)} is not a model of pybamm.{module_name} (e.g. SPM, SPMe, DFN)",
        )
    return cls


def check_model_config(config: Any, where: str = "model") -> None:
    """Check a model choice: a model class name (``"SPM"``), a built-in config
    ``{"type": "SPMe", "module": "lithium_ion", "options": {...}}`` (with optional
    ``custom_variables``/``events`` expressions), or ``{"type": "custom", "model": <a
    serialised custom model>}``."""
    if isinstance(config, str):
        model_class_of("lithium_ion", config, where)
        return
    if not isinstance(config, Mapping):
        raise _unsafe(where, f"expected a model name or object, got {type(config).__name__}")
    kind = config.get("type")
    if kind == "custom":
        if not isinstance(config.get("model"), Mapping):
            raise _unsafe(f"{where}.model", "expected a serialised PyBaMM model object")
        check_symbol_tree({k: v for k, v in config.items() if k != "type"}, where)
        return
    model_class_of(config.get("module", "lithium_ion"), kind, where)
    options = config.get("options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise _unsafe(f"{where}.options", "expected an object of PyBaMM model options")
        for name, value in options.items():
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(item, _OPTION_SCALARS) for item in items):
                raise _unsafe(
                    f"{where}.options.{name}", "expected a string, number or list of them"
                )
    check_symbol_tree({k: v for k, v in config.items() if k not in _MODEL_ROOT_KEYS}, where)


def check_parameter_values(values: Mapping[str, Any], where: str = "parameters") -> None:
    """Parameter overrides: finite numbers, numeric strings, or serialised PyBaMM expressions
    (``ParameterValues.to_json()``); PyBaMM's special strings (``"[input]"``, ``"[data]…"``,
    file names) and everything else are refused."""
    for name, value in values.items():
        path = f"{where}.{name}"
        if isinstance(value, bool):
            raise _unsafe(path, "expected a number, got a boolean")
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise _unsafe(path, "expected a finite number")
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise _unsafe(path, f"expected a number, got the string {_show(value)}")
        elif isinstance(value, Mapping):
            if not any(key in value for key in ("$type", "py/object", "type")):
                raise _unsafe(path, "expected a number or a serialised PyBaMM expression")
            check_symbol_tree(value, path)
        elif name == "citations" and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise _unsafe(path, "expected a list of strings")
        else:
            raise _unsafe(
                path, f"expected a number or a serialised PyBaMM expression, got {_show(value)}"
            )
