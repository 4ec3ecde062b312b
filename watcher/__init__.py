"""plan-watcher: keeps SageMaker training plans from expiring under running work."""

__version__ = "0.1.0"
#: How plan-watcher names itself to AWS and to webhooks.
USER_AGENT = f"plan-watcher/{__version__}"
