"""The batch run: run parameters, papermill on a process pool or Dask, HTML export, the index."""
