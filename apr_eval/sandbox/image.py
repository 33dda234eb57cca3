"""Building the sandbox image: offline from a debootstrap rootfs, or from the Dockerfile.

The image holds Debian bookworm's python3 (3.11) with the third-party modules the reference
harnesses' environments give a sample (``PACKAGES``: numpy, as evalplus and lcb_runner both
install it) and the runner files, nothing else: no benchmark data, no expected outputs, no
canonical solutions. Its tag carries a hash of
the runner files and the recipe, so a changed runner can never run against a stale image.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from apr_eval.errors import SandboxUnavailable, UsageError

# Debian packages in the image (debootstrap --include, or apt-get in the Dockerfile).
PACKAGES = ("python3", "python3-numpy")
RECIPE = "bookworm-minbase-python3-numpy-v2"
REPOSITORY = "apr-eval-sandbox"
SUITE = "bookworm"
_HERE = Path(__file__).parent
# (path inside the image under /opt/apr, source file or None for an empty package marker)
RUNNER_FILES: tuple[tuple[str, Path | None], ...] = (
    ("apr_eval/__init__.py", None),
    ("apr_eval/sandbox/__init__.py", None),
    ("apr_eval/sandbox/codec.py", _HERE / "codec.py"),
    ("apr_eval/sandbox/digest.py", _HERE / "digest.py"),
    ("apr_eval/sandbox/guard.py", _HERE / "guard.py"),
    ("apr_eval/sandbox/lockdown.py", _HERE / "lockdown.py"),
    ("apr_eval/sandbox/runner.py", _HERE / "runner.py"),
    ("apr_eval/sandbox/supervisor.py", _HERE / "supervisor.py"),
)
IMAGE_CHANGES = [
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "WORKDIR /opt/apr",
    "USER 65534:65534",
    'CMD ["python3", "-B", "-m", "apr_eval.sandbox.runner"]',
]
# Rootfs trimming: docs and package caches the runner never needs.
_DROP_PREFIXES = ("./usr/share/doc/", "./usr/share/man/", "./usr/share/locale/",
                  "./var/cache/apt/", "./var/lib/apt/lists/")

Log = Callable[[str], None]


def _file_bytes(src: Path | None) -> bytes:
    return b"" if src is None else src.read_bytes()


def image_tag() -> str:
    h = hashlib.sha256(RECIPE.encode() + b"\0" + " ".join(PACKAGES).encode())
    for name, src in RUNNER_FILES:
        h.update(name.encode() + b"\0" + _file_bytes(src) + b"\0")
    return f"{REPOSITORY}:{h.hexdigest()[:12]}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_runner_files(tar: tarfile.TarFile, prefix: str) -> None:
    dirs = sorted({str(Path(name).parent) for name, _ in RUNNER_FILES})
    for d in dirs:
        info = tarfile.TarInfo(f"{prefix}{d}")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    for name, src in RUNNER_FILES:
        _add_bytes(tar, f"{prefix}{name}", _file_bytes(src))


def rootfs_tarball(cache_dir: Path, log: Log) -> Path:
    """A trimmed debootstrap rootfs as a tarball, built once and cached."""
    out = cache_dir / f"rootfs-{SUITE}-minbase-{'-'.join(PACKAGES)}.tar"
    if out.exists():
        return out
    if shutil.which("debootstrap") is None:
        raise SandboxUnavailable("debootstrap is not installed (apt-get install debootstrap), "
                                 "and no registry is assumed; or use --method dockerfile")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        root = Path(tmp) / "rootfs"
        include = f"--include={','.join(PACKAGES)}"
        log(f"debootstrap --variant=minbase {include} {SUITE} (a minute or two)")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", include, SUITE, str(root)],
            capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            raise SandboxUnavailable(f"debootstrap failed: {tail[0]}")
        partial = out.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".", filter=_trim)
        partial.rename(out)
    return out


def _trim(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    name = info.name if info.name.startswith("./") else "./" + info.name
    return None if name.startswith(_DROP_PREFIXES) else info


def image_tarball(rootfs: Path, dest: Path) -> Path:
    """The rootfs plus the runner files, ready for ``docker import``."""
    shutil.copyfile(rootfs, dest)
    with tarfile.open(dest, "a") as tar:
        _add_runner_files(tar, "./opt/apr/")
    return dest


def dockerfile_context(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_HERE / "Dockerfile", dest / "Dockerfile")
    for name, src in RUNNER_FILES:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_file_bytes(src))
    return dest


METHODS = ("auto", "debootstrap", "dockerfile")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown build method '{method}' (choose from {', '.join(METHODS)})")
