"""Generation: backends and the models they load (embedded GGUF models, conversion)."""
