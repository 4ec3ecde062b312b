"""plan-watcher: keeps SageMaker training plans from expiring under running work."""

__version__ = "0.1.0"
