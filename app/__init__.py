"""torchplay's web app: FastAPI pages, REST and websockets around ml_core."""
