# torchplay in a container.
#   docker build -t torchplay .
#   docker run --rm -p 127.0.0.1:8000:8000 torchplay            # CPU
#   docker run --rm --gpus all -p 127.0.0.1:8000:8000 torchplay # NVIDIA GPU (needs the NVIDIA container toolkit)
# PyPI's Linux torch wheel ships with CUDA, so the same image uses a GPU when one is passed in.
# For a smaller CPU-only image: --build-arg TORCH_INDEX=<PyTorch's CPU wheel index>.
# Install and start steps live in deploy/torchplay.sh (the replica test runs the same script).
# A class behind a proxy, or several replicas: deploy/compose.yaml, deploy/kubernetes/.
FROM python:3.11-slim

ARG TORCH_INDEX=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TORCHPLAY_HOST=0.0.0.0 TORCHPLAY_PORT=8000

WORKDIR /srv/torchplay
COPY pyproject.toml README.md constraints.txt ./
COPY deploy/torchplay.sh deploy/torchplay.sh
COPY app ./app
COPY ml_core ./ml_core
COPY static ./static
COPY templates ./templates
RUN TORCH_INDEX="$TORCH_INDEX" deploy/torchplay.sh install && useradd --create-home torchplay
USER torchplay
EXPOSE 8000
# Inside the container the server listens on all interfaces; publish it on loopback (see above).
CMD ["deploy/torchplay.sh", "start"]
