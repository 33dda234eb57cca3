from apr_eval.cli import entrypoint

entrypoint()
