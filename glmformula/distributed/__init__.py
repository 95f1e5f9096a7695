"""Fitting beyond one machine: map-reduce IRLS over Dask partitions (optional extra ``glmformula[dask]``)."""
