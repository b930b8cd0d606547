#!/usr/bin/env bash
# Distributed training on one node with torchrun: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Works on GPUs (nccl) and on CPU-only machines (gloo is chosen automatically).
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "$0")" && pwd)"
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" "$DIR/train.py" "$CONFIG" --launcher pytorch "$@"
