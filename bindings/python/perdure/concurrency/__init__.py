"""map and parallel: result models (models.py)."""
from perdure.concurrency.models import BatchItem, BatchItemStatus, BatchResult, CompletionReason

__all__ = ["BatchItem", "BatchItemStatus", "BatchResult", "CompletionReason"]
