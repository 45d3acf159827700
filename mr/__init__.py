"""MapReduce on the gfs store; for now the `mr` CLI and the local cluster launcher."""
