"""Operations: Prometheus metrics (``metrics``), their exposition (``exposition``, ``http``) and tracing."""
