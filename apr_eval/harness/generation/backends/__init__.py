"""Generation backends: one protocol (``base.Backend``), a lazy registry, a fake."""
