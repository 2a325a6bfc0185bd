"""A loopback TCP proxy that can be told to stall.

Normally it relays bytes both ways between a client and 127.0.0.1:<target>.
While stalled it still accepts connections, but relays nothing in either
direction: whatever it reads is held until the stall ends, so the client
sees a peer that is up but never answers (a slow service, not a dead one).
When the target refuses a connection, the client's connection is reset, as
if the service itself were down.

Used by conftest.py in-process (StallProxy). Also runnable by hand:
    python3 stall_proxy.py --target-port 8081 [--listen-port 0]
prints its port; SIGUSR1 stalls it, SIGUSR2 resumes it.

It only ever listens on and connects to 127.0.0.1.
"""

import argparse
import signal
import socket
import struct
import sys
import threading

LOOPBACK = "127.0.0.1"


class StallProxy:
    def __init__(self, target_port, listen_port=0):
        self.target = (LOOPBACK, int(target_port))  # never anything else
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, listen_port))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets = set()
        self._thread = threading.Thread(target=self._accept_loop,
                                        name="stall-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    @property
    def stalled(self):
        return not self._flowing.is_set()

    def stall(self, on=True):
        if on:
            self._flowing.clear()
        else:
            self._flowing.set()

    def close(self):
        self._closed.set()
        self._flowing.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._sockets)
            self._sockets.clear()
        for s in socks:
            _close(s)

    # -- internals ---------------------------------------------------------

    def _track(self, s):
        with self._lock:
            self._sockets.add(s)

    def _untrack(self, s):
        with self._lock:
            self._sockets.discard(s)
        _close(s)

    def _accept_loop(self):
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,),
                             daemon=True).start()

    def _serve(self, client):
        self._track(client)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            upstream.settimeout(2.0)
            upstream.connect(self.target)
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            # The service is down: reset the client's connection.
            _close(upstream)
            try:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
            except OSError:
                pass
            self._untrack(client)
            return
        self._track(upstream)
        t = threading.Thread(target=self._pump, args=(upstream, client),
                             daemon=True)
        t.start()
        self._pump(client, upstream)
        t.join()
        self._untrack(client)
        self._untrack(upstream)

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                # Hold what was read while stalled; relay it afterwards.
                while not self._flowing.wait(0.1):
                    if self._closed.is_set():
                        return
                if self._closed.is_set():
                    return
                if not data:
                    dst.shutdown(socket.SHUT_WR)  # pass the half-close on
                    return
                dst.sendall(data)
        except OSError:
            # One side failed: end both, which also ends the other pump.
            self._untrack(src)
            self._untrack(dst)


def _close(s):
    try:
        s.close()
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--listen-port", type=int, default=0)
    args = ap.parse_args()
    proxy = StallProxy(args.target_port, args.listen_port)
    signal.signal(signal.SIGUSR1, lambda *_: proxy.stall(True))
    signal.signal(signal.SIGUSR2, lambda *_: proxy.stall(False))
    print("listening on %s -> %s:%d" % (proxy.url, *proxy.target), flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()


if __name__ == "__main__":
    sys.exit(main())
