"""The REST door: FastAPI app and routers that only translate HTTP to service calls."""
