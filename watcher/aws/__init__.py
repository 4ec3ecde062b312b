"""The AWS gateway: sessions per target, SageMaker calls, error classes, parsing."""
