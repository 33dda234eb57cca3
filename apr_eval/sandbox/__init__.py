"""The Docker sandbox: image, in-container runner and host-side executor."""
