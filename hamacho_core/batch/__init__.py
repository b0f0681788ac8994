"""Re-judging an archive: ``hamacho batch`` on this PC's cores or a Ray cluster, into a Parquet dataset."""

from hamacho_core.batch.results import Check, ResultStore
from hamacho_core.batch.runner import BatchOptions, BatchSummary, run_batch
from hamacho_core.batch.sources import SourceError, iter_paths

__all__ = ["BatchOptions", "BatchSummary", "Check", "ResultStore", "SourceError", "iter_paths", "run_batch"]
