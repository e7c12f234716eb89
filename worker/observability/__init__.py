"""What operators see: structured logs (`logs`), Prometheus metrics (`metrics`) and the
liveness/readiness checks (`health`)."""
