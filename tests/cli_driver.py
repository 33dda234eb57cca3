"""``python tests/cli_driver.py ARGS``: the real apr-eval CLI with the toy benchmark added."""

import sys

import toybench

from apr_eval.cli import entrypoint

if __name__ == "__main__":
    toybench.register()
    entrypoint(sys.argv[1:])
