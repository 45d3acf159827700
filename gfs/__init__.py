"""A GFS-like replicated block store: namenode, datanodes, client and CLI."""
