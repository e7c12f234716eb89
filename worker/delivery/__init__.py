"""Sending work out of the process: signed webhook delivery over HTTP (`webhooks`)."""
