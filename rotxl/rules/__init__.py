"""The rules of the spec: pure functions over arrays and frames (no files, no Excel)."""
