"""The Batch API: JSONL files of requests run in the background at the batch price, kept only encrypted under a
key the client holds (``/v1/files``, ``/v1/batches``)."""
