#!/bin/sh
# Install or start torchplay: the one place the Dockerfile, the Kubernetes image and the
# replica test (tests/app/test_replicas.py) take these steps from.
#
#   deploy/torchplay.sh install   pip-install torch (pinned) and torchplay with the tested
#                                 versions (constraints.txt) into $PYTHON's environment
#   deploy/torchplay.sh start     serve on $TORCHPLAY_HOST:$TORCHPLAY_PORT (exec: signals reach it)
#
# PYTHON (default python3) picks the interpreter; TORCH_INDEX, when set, is the wheel index for
# torch (e.g. PyTorch's CPU-only index for a smaller image). Settings: TORCHPLAY_* variables.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

case "${1:-}" in
  install)
    if [ -n "${TORCH_INDEX:-}" ]; then
      "$PYTHON" -m pip install torch==2.13.0 --index-url "$TORCH_INDEX"
    fi
    "$PYTHON" -m pip install -c constraints.txt .
    ;;
  start)
    exec "$PYTHON" -m app
    ;;
  *)
    echo "usage: $0 install|start" >&2
    exit 2
    ;;
esac
