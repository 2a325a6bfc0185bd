#!/usr/bin/env bash
# The ctest fixture "nats": nats-server with JetStream on a free loopback
# port, its store in DIR/store; DIR/url holds its URL for the tests.
#   nats_fixture.sh start DIR | stop DIR
set -euo pipefail
cmd=$1 dir=$2
case $cmd in
  start)
    rm -rf "$dir" && mkdir -p "$dir/store"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    nats-server -js -sd "$dir/store" -a 127.0.0.1 -p "$port" >"$dir/nats.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 500); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "nats://127.0.0.1:$port" >"$dir/url"
        echo "nats-server with JetStream at nats://127.0.0.1:$port"
        exit 0
      fi
      kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/nats.log"; exit 1; }
      sleep 0.01
    done
    echo "nats-server did not listen"; cat "$dir/nats.log"; exit 1 ;;
  stop)
    [[ -f $dir/pid ]] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -rf "$dir"
    echo "nats-server stopped" ;;
  *) echo "usage: nats_fixture.sh start|stop DIR"; exit 2 ;;
esac
