"""Reporting: structured logs, Prometheus metrics, HTTP endpoints."""
