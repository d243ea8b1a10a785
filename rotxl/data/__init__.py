"""Files and memory of past builds: reading exports, writing files, merging."""
