"""The job engine: durable jobs, a fair queue, adaptive polling, resume after restart."""
