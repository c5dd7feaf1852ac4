#!/usr/bin/env bash
# A four-process Tessera cluster on loopback, for trying fail-over by hand:
#
#   core-1    roles coordinator,ps  port 2551  admin http://127.0.0.1:7355  metrics 9095
#   core-2    roles coordinator,ps  port 2552  admin http://127.0.0.1:7356  metrics 9096
#   worker-1  role  worker          port 2553                               metrics 9097
#   worker-2  role  worker          port 2554                               metrics 9098
#
# The coordinator singleton runs on the oldest core node and moves to the other if it dies;
# parameter shards spread over both. The journal is H2 in data/tessera (shared by the four
# processes), or PostgreSQL when TESSERA_DATABASE=postgres and TESSERA_POSTGRES_URL/_USER/
# _PASSWORD say where (see README).
#
# Usage: deploy/scripts/local-cluster.sh start | status | stop | kill NODE
# `start` starts every node that is not running, so it also brings back a killed one. Run it
# from the checkout root. Logs and pids go to data/cluster/; the admin token to
# data/admin.token, where `bin/tessera submit` and `status` find it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="${TESSERA_CLUSTER_DIR:-data/cluster}"
data_dir="${TESSERA_DATA_DIR:-data/fashion-mnist}"
nodes=(core-1 core-2 worker-1 worker-2)

args_for() {
  case "$1" in
    core-1)      echo "--roles coordinator,ps --port 2551 --admin-port 7355 --metrics-port 9095" ;;
    core-2)      echo "--roles coordinator,ps --port 2552 --admin-port 7356 --metrics-port 9096" ;;
    worker-1)    echo "--roles worker --port 2553 --metrics-port 9097 --data-dir $data_dir" ;;
    worker-2)    echo "--roles worker --port 2554 --metrics-port 9098 --data-dir $data_dir" ;;
    *) echo "unknown node '$1' (nodes: ${nodes[*]})" >&2; exit 2 ;;
  esac
}

port_of() {
  case "$1" in core-1) echo 2551 ;; core-2) echo 2552 ;; worker-1) echo 2553 ;; worker-2) echo 2554 ;; esac
}

# A node's seeds: the nodes already running, so that a node started again joins the cluster that is
# there. Only with none running does a node seed itself (and form the cluster): a node first in its
# own seed list forms a new cluster when no other seed answers at once, which splits the cluster.
seeds_for() {
  local seeds="" other
  for other in "${nodes[@]}"; do
    if [[ "$other" != "$1" ]] && alive "$other"; then seeds="${seeds:+$seeds,}127.0.0.1:$(port_of "$other")"; fi
  done
  echo "${seeds:-127.0.0.1:$(port_of "$1")}"
}

pid_of() { [[ -f "$state/$1.pid" ]] && cat "$state/$1.pid"; }
alive() { local pid; pid="$(pid_of "$1")" && kill -0 "$pid" 2>/dev/null; }

start() {
  mkdir -p "$state"
  "$root/bin/tessera" help >/dev/null   # builds the jar once, before four JVMs race to do it
  for node in "${nodes[@]}"; do
    if alive "$node"; then echo "$node already running (pid $(pid_of "$node"))"; continue; fi
    # shellcheck disable=SC2046
    # Four JVMs share this machine: one PyTorch thread per worker keeps them from fighting
    # over the cores (a node on a machine of its own uses all of them).
    TESSERA_JAVA_OPTS="-Dai.djl.pytorch.num_threads=1 ${TESSERA_JAVA_OPTS:-}" \
      nohup "$root/bin/tessera" node $(args_for "$node") --seed-nodes "$(seeds_for "$node")" >"$state/$node.log" 2>&1 &
    echo $! >"$state/$node.pid"
    echo "started $node (pid $!, log $state/$node.log)"
  done
  echo "waiting for an admin front (http://127.0.0.1:7355 or :7356) ..."
  for _ in $(seq 1 120); do
    if curl -fs http://127.0.0.1:7355/health >/dev/null 2>&1 || curl -fs http://127.0.0.1:7356/health >/dev/null 2>&1; then
      echo "cluster up; submit with: bin/tessera submit deploy/jobs/fashion-mnist-vit.conf"
      return 0
    fi
    sleep 1
  done
  echo "no admin front came up; see $state/core-1.log" >&2
  return 1
}

status() {
  for node in "${nodes[@]}"; do
    if alive "$node"; then echo "$node: running (pid $(pid_of "$node"))"; else echo "$node: stopped"; fi
  done
}

stop() {
  for node in "${nodes[@]}"; do
    if alive "$node"; then kill "$(pid_of "$node")" && echo "stopping $node"; fi
  done
}

kill9() {
  local node="$1"
  args_for "$node" >/dev/null
  if alive "$node"; then kill -9 "$(pid_of "$node")" && echo "killed $node with SIGKILL"; else echo "$node is not running"; fi
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  kill) kill9 "${2:?usage: local-cluster.sh kill NODE}" ;;
  *) echo "usage: $0 start | status | stop | kill NODE" >&2; exit 2 ;;
esac
