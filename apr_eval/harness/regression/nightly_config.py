"""The nightly matrix as data: ``nightly.toml`` parsed and validated before anything runs.

Every problem becomes one line naming the place in the file, e.g.
``nightly.toml:12: [[models]][2].backend: unknown backend 'llamacp' (did you mean 'llamacpp'?)``
(the line number is given where it can be found; entries are counted from 1). Nothing is
imported that loads a model: backends are looked up by name and asked to validate their options.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apr_eval.core import SamplingParams, SandboxLimits
from apr_eval.errors import AprEvalError, UsageError
from apr_eval.harness.regression.places import Place, locate

TOP_KEYS = ("results_dir", "executor", "max_drop", "alpha", "max_infra_share", "rerun",
            "defaults", "benchmarks", "models")
SHARED_KEYS = ("sampling", "sandbox", "prompt_style", "prompt_preset", "limit", "batch_size")
BENCH_KEYS = ("name", "version", "problems", "options", *SHARED_KEYS)
MODEL_KEYS = ("name", "backend", "model", "revision", "options", "benchmarks", "baseline",
              *SHARED_KEYS)
SAMPLING_KEYS = tuple(f.name for f in dataclasses.fields(SamplingParams))
SANDBOX_KEYS = tuple(f.name for f in dataclasses.fields(SandboxLimits))
STYLES = ("auto", "completion", "chat")
RERUN = ("on-change", "daily")
# Backends whose ``model`` with a "/" is a local path (else an alias); any backend's
# ``*.gguf`` or ``./``-style model must exist.
FILE_BACKENDS = ("llamacpp",)


class ConfigError(UsageError):
    """A problem in the nightly config, with its place in the file."""


@dataclass(frozen=True)
class BenchEntry:
    name: str
    version: str | None = None
    problems: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # SHARED_KEYS given here


@dataclass(frozen=True)
class ModelEntry:
    name: str
    backend: str
    model: str  # a path (resolved against the config's folder) or a name the backend knows
    revision: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    benchmarks: tuple[str, ...] = ()  # empty: every [[benchmarks]] entry
    baseline: str | Mapping[str, str] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One model on one benchmark, every setting resolved (defaults < benchmark < model)."""

    model: ModelEntry
    benchmark: BenchEntry
    sampling: SamplingParams
    limits: SandboxLimits
    prompt_style: str  # "auto" / "completion" / "chat"
    prompt_preset: str
    limit: int | None
    batch_size: int

    @property
    def baseline(self) -> str | None:
        """A named baseline run ref for this cell (``latest:X`` gets ``:benchmark``)."""
        base = self.model.baseline
        if isinstance(base, Mapping):
            return base.get(self.benchmark.name)
        if base and base.startswith(("latest:", "previous:")) and base.count(":") == 1:
            return f"{base}:{self.benchmark.name}"
        return base


@dataclass(frozen=True)
class NightlyConfig:
    path: Path
    results_dir: Path
    executor: str = "docker"
    max_drop: float = 1.0
    alpha: float = 0.05
    max_infra_share: float = 0.02  # above it a comparison is inconclusive (exit 3)
    rerun: str = "on-change"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    benchmarks: tuple[BenchEntry, ...] = ()
    models: tuple[ModelEntry, ...] = ()

    def cells(self) -> list[Cell]:
        by_name = {b.name: b for b in self.benchmarks}
        out = []
        for m in self.models:
            for bench_name in m.benchmarks or tuple(by_name):
                out.append(_resolve(self.defaults, by_name[bench_name], m))
        return out


def _resolve(defaults: Mapping[str, Any], bench: BenchEntry, model: ModelEntry) -> Cell:
    merged: dict[str, Any] = {}
    for layer in (defaults, bench.settings, model.settings):
        for key, value in layer.items():
            if key in ("sampling", "sandbox"):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return Cell(model=model, benchmark=bench,
                sampling=SamplingParams(**merged.get("sampling", {})),
                limits=SandboxLimits(**merged.get("sandbox", {})),
                prompt_style=merged.get("prompt_style", "auto"),
                prompt_preset=merged.get("prompt_preset", "default"),
                limit=merged.get("limit"), batch_size=merged.get("batch_size", 1))


# ------------------------------------------------------------------ validation helpers


def place_error(path: Path, place: Place, message: str) -> ConfigError:
    """A :class:`ConfigError` for ``place`` in the config file at ``path`` (with its line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    return _Checker(path, text).fail(place, message)


class _Checker:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, place: Place, message: str) -> ConfigError:
        line = locate(self.text, place)
        where = f"{self.path.name}:{line}" if line else self.path.name
        return ConfigError(f"{where}: {place.text()}: {message}" if place.parts
                           else f"{where}: {message}")

    def keys(self, table: Any, allowed: tuple[str, ...], place: Place) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(place, f"expected a table, got {_kind(table)}")
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(place.child(key),
                                f"unknown key{hint}; known: {', '.join(allowed)}")
        return table

    def typed(self, value: Any, kind: type | tuple[type, ...], place: Place,
              check: Callable[[Any], bool] = lambda v: True, need: str = "") -> Any:
        bad_bool = isinstance(value, bool) and kind is not bool
        if bad_bool or not isinstance(value, kind) or not check(value):
            want = need or (kind.__name__ if isinstance(kind, type) else "a number")
            raise self.fail(place, f"expected {want}, got {value!r}")
        return value

    def choice(self, value: Any, known: list[str] | tuple[str, ...], place: Place,
               what: str) -> str:
        self.typed(value, str, place, need="a string")
        if value not in known:
            close = difflib.get_close_matches(value, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise self.fail(place, f"unknown {what} '{value}'{hint}; known: {', '.join(known)}")
        return str(value)


_KINDS: dict[type, str] = {dict: "a table", list: "an array", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


_NUM = (int, float)


def _shared(ck: _Checker, table: dict[str, Any], place: Place) -> dict[str, Any]:
    """The settings every level may give: sampling, sandbox, prompt style/preset, limit."""
    out: dict[str, Any] = {}
    if "sampling" in table:
        s = ck.keys(table["sampling"], SAMPLING_KEYS, place.child("sampling"))
        for key, value in s.items():
            p = place.child("sampling").child(key)
            if key in ("n", "max_tokens"):
                ck.typed(value, int, p, lambda v: v >= 1, "an integer >= 1")
            elif key == "seed":
                ck.typed(value, int, p, need="an integer")
            elif key == "top_p":
                ck.typed(value, _NUM, p, lambda v: 0 < v <= 1, "a number in (0, 1]")
            else:
                ck.typed(value, _NUM, p, lambda v: v >= 0, "a number >= 0")
        out["sampling"] = dict(s)
    if "sandbox" in table:
        s = ck.keys(table["sandbox"], SANDBOX_KEYS, place.child("sandbox"))
        for key, value in s.items():
            ck.typed(value, _NUM, place.child("sandbox").child(key), lambda v: v > 0,
                     "a number > 0")
        out["sandbox"] = dict(s)
    if "prompt_style" in table:
        out["prompt_style"] = ck.choice(table["prompt_style"], STYLES,
                                        place.child("prompt_style"), "prompt style")
    if "prompt_preset" in table:
        out["prompt_preset"] = ck.typed(table["prompt_preset"], str,
                                        place.child("prompt_preset"), need="a string")
    for key in ("limit", "batch_size"):
        if key in table:
            out[key] = ck.typed(table[key], int, place.child(key), lambda v: v >= 1,
                                "an integer >= 1")
    return out


def _str_list(ck: _Checker, value: Any, place: Place) -> tuple[str, ...]:
    ck.typed(value, list, place, need="an array of strings")
    for i, item in enumerate(value):
        ck.typed(item, str, place.index(i), need="a string")
    return tuple(value)


# ------------------------------------------------------------------ entries


def _bench(ck: _Checker, raw: Any, i: int, known: list[str]) -> BenchEntry:
    place = Place.array("benchmarks", i)
    table = ck.keys(raw, BENCH_KEYS, place)
    if "name" not in table:
        raise ck.fail(place, "missing key 'name'")
    name = ck.choice(table["name"], known, place.child("name"), "benchmark")
    version = table.get("version")
    if version is not None:
        ck.typed(version, str, place.child("version"), need="a string")
    problems = _str_list(ck, table["problems"], place.child("problems")) \
        if "problems" in table else ()
    options = table.get("options", {})
    ck.typed(options, dict, place.child("options"), need="a table")
    return BenchEntry(name, version, problems, dict(options), _shared(ck, table, place))


def _model_file(ck: _Checker, backend: str, model: str, place: Place) -> str:
    """A path-looking model must exist (relative paths are read from the config's folder);
    names and aliases (``qwen2.5-coder-0.5b``, ``hf:...``, a served name) pass through."""
    looks_like_path = model.endswith(".gguf") or model.startswith(("/", "./", "../", "~")) \
        or (backend in FILE_BACKENDS and "/" in model and not model.startswith("hf:"))
    if not looks_like_path:
        return model
    path = Path(model).expanduser()
    if not path.is_absolute():
        path = (ck.path.parent / path).resolve()
    if not path.exists():
        raise ck.fail(place, f"model file not found: {path}")
    return str(path)


def _backend_options(ck: _Checker, entry: ModelEntry, place: Place) -> None:
    """Let the backend validate its own options (builds the object, loads nothing)."""
    from apr_eval.harness.generation.backends.base import BACKENDS

    try:
        cls = BACKENDS.get(entry.backend)
    except ImportError as exc:
        raise ck.fail(place.child("backend"),
                      f"backend '{entry.backend}' cannot be imported here ({exc})") from None
    try:
        cls.from_options(entry.model, entry.options)
    except AprEvalError as exc:
        about_options = entry.options and "option" in str(exc)
        raise ck.fail(place.child("options" if about_options else "model"), str(exc)) from None


def _model(ck: _Checker, raw: Any, i: int, backends: list[str],
           bench_names: list[str]) -> ModelEntry:
    place = Place.array("models", i)
    table = ck.keys(raw, MODEL_KEYS, place)
    for key in ("name", "backend", "model"):
        if key not in table:
            raise ck.fail(place, f"missing key '{key}'")
        ck.typed(table[key], str, place.child(key), bool, "a non-empty string")
    backend = ck.choice(table["backend"], backends, place.child("backend"), "backend")
    model = _model_file(ck, backend, table["model"], place.child("model"))
    benches = _str_list(ck, table.get("benchmarks", []), place.child("benchmarks"))
    for j, b in enumerate(benches):
        ck.choice(b, bench_names, place.child("benchmarks").index(j), "benchmark entry")
    baseline = table.get("baseline")
    if isinstance(baseline, dict):
        for key, ref in baseline.items():
            ck.choice(key, bench_names, place.child("baseline").child(key), "benchmark entry")
            ck.typed(ref, str, place.child("baseline").child(key), need="a run ref")
    elif baseline is not None:
        ck.typed(baseline, str, place.child("baseline"), need="a run ref or a table")
    options = table.get("options", {})
    ck.typed(options, dict, place.child("options"), need="a table")
    revision = ck.typed(table.get("revision", ""), str, place.child("revision"),
                        need="a string")
    entry = ModelEntry(table["name"], backend, model, revision, dict(options), benches,
                       baseline, _shared(ck, table, place))
    _backend_options(ck, entry, place)
    return entry


# ------------------------------------------------------------------ the file


def _unique(ck: _Checker, names: list[str], table: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ck.fail(Place.array(table, i).child("name"), f"duplicate name '{name}'")
        seen.add(name)


def _top(ck: _Checker, raw: dict[str, Any], results_dir: Path | None,
         default_results: Path) -> dict[str, Any]:
    from apr_eval.sandbox.executor import EXECUTORS

    ck.keys(raw, TOP_KEYS, Place())
    out: dict[str, Any] = {}
    if results_dir is not None:
        out["results_dir"] = results_dir
    elif "results_dir" in raw:
        given = Path(ck.typed(raw["results_dir"], str, Place(("results_dir",)),
                              need="a string")).expanduser()
        out["results_dir"] = given if given.is_absolute() else ck.path.parent / given
    else:
        out["results_dir"] = default_results
    if "executor" in raw:
        out["executor"] = ck.choice(raw["executor"], EXECUTORS.names(), Place(("executor",)),
                                    "executor")
    if "max_drop" in raw:
        out["max_drop"] = float(ck.typed(raw["max_drop"], _NUM, Place(("max_drop",)),
                                         lambda v: v >= 0, "a number >= 0 (pp)"))
    if "alpha" in raw:
        out["alpha"] = float(ck.typed(raw["alpha"], _NUM, Place(("alpha",)),
                                      lambda v: 0 < v < 1, "a number in (0, 1)"))
    if "max_infra_share" in raw:
        out["max_infra_share"] = float(ck.typed(
            raw["max_infra_share"], _NUM, Place(("max_infra_share",)), lambda v: 0 <= v <= 1,
            "a share in [0, 1]"))
    if "rerun" in raw:
        out["rerun"] = ck.choice(raw["rerun"], RERUN, Place(("rerun",)), "rerun policy")
    return out


def load_config(path: Path, *, results_dir: Path | None = None,
                default_results: Path = Path("results")) -> NightlyConfig:
    """Parse and validate ``path``; raises :class:`ConfigError` (one line, exit 2)."""
    from apr_eval.benchmarks.base import BENCHMARKS
    from apr_eval.harness.generation.backends.base import BACKENDS

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
    ck = _Checker(path, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    top = _top(ck, raw, results_dir, default_results)
    defaults = _shared(ck, ck.keys(raw.get("defaults", {}), SHARED_KEYS, Place(("defaults",))),
                       Place(("defaults",)))
    for key in ("benchmarks", "models"):
        if not isinstance(raw.get(key), list) or not raw[key]:
            raise ck.fail(Place((key,)), f"needs at least one [[{key}]] entry")
    benches = [_bench(ck, b, i, BENCHMARKS.names()) for i, b in enumerate(raw["benchmarks"])]
    _unique(ck, [b.name for b in benches], "benchmarks")
    bench_names = [b.name for b in benches]
    models = [_model(ck, m, i, BACKENDS.names(), bench_names)
              for i, m in enumerate(raw["models"])]
    _unique(ck, [m.name for m in models], "models")
    return NightlyConfig(path=path, defaults=defaults, benchmarks=tuple(benches),
                         models=tuple(models), **top)
