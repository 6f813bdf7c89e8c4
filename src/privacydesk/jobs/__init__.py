"""Background jobs on PostgreSQL (procrastinate): transactional enqueue, retries, periodic tasks, workers."""
