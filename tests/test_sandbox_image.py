"""The two image recipes agree: the Dockerfile installs exactly the debootstrap packages."""

from __future__ import annotations

import re

from apr_eval.sandbox import image


def test_dockerfile_installs_the_debootstrap_packages() -> None:
    text = (image._HERE / "Dockerfile").read_text()
    m = re.search(r"--no-install-recommends ([^\\\n]+)", text)
    assert m is not None
    assert tuple(m.group(1).split()) == image.PACKAGES

