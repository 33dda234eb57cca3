"""The Docker engine seam: connecting, building and finding the sandbox image."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from apr_eval.errors import SandboxUnavailable
from apr_eval.sandbox import image as recipe
from apr_eval.sandbox.image import Log


def connect(timeout: int = 60) -> Any:
    """A docker.DockerClient, or one clear SandboxUnavailable line."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(
            f"cannot reach the Docker daemon ({_short(exc)}); is it running and is "
            "DOCKER_HOST right?") from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def image_id(client: Any, tag: str | None = None) -> str:
    """The sandbox image's id (its digest), or SandboxUnavailable with the build command."""
    import docker

    tag = tag or recipe.image_tag()
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        raise SandboxUnavailable(
            f"sandbox image {tag} is not built; run `apr-eval sandbox build`") from None


def build(client: Any, method: str, cache_dir: Path, log: Log) -> tuple[str, str]:
    """Build (or find) the image for the current runner files. Returns (tag, image id)."""
    import docker

    recipe.check_method(method)
    tag = recipe.image_tag()
    try:
        return tag, str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        pass
    use_dockerfile = method == "dockerfile"
    if method == "auto":
        import shutil

        use_dockerfile = shutil.which("debootstrap") is None
    if use_dockerfile:
        _build_dockerfile(client, tag, log)
    else:
        _build_offline(client, tag, cache_dir, log)
    return tag, str(client.images.get(tag).id)


def _build_offline(client: Any, tag: str, cache_dir: Path, log: Log) -> None:
    rootfs = recipe.rootfs_tarball(cache_dir, log)
    repository, _, version = tag.partition(":")
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        tarball = recipe.image_tarball(rootfs, Path(tmp) / "image.tar")
        log(f"docker import -> {tag}")
        client.api.import_image(src=str(tarball), repository=repository, tag=version,
                                changes=recipe.IMAGE_CHANGES)


def _build_dockerfile(client: Any, tag: str, log: Log) -> None:
    import docker

    with tempfile.TemporaryDirectory() as tmp:
        ctx = recipe.dockerfile_context(Path(tmp))
        log(f"docker build {ctx} -> {tag}")
        try:
            client.images.build(path=str(ctx), tag=tag, rm=True, pull=False)
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise SandboxUnavailable(f"docker build failed: {_short(exc)}") from None
