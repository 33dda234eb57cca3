"""``python -m apr_eval.cli``: the same as the ``apr-eval`` console script."""

from apr_eval.cli import entrypoint

if __name__ == "__main__":
    entrypoint()
