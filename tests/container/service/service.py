"""What a Kubernetes Service (a ClusterIP, kube-proxy) does for a
Deployment of several replicas, for tests/container/run.sh: podman kube
play ignores Services, and a network alias shared by the replicas gives
every client the same first address (getaddrinfo sorts them), so one
replica would get every call.

    python3 service.py PORT BACKEND BACKEND_PORT

Listens on PORT and relays each connection to one of the addresses of
BACKEND (a network alias that every ready replica carries), resolved again
for each connection and taken in turn, skipping those that refuse it, as
kube-proxy spreads connections over a Service's endpoints. Only TCP is
relayed: HTTP keep-alive connections stay on the replica they reached.
"""
import asyncio
import itertools
import socket
import sys

turn = itertools.count()


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def relay(client_r, client_w, backend, port):
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(backend, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
        addrs = sorted({i[4][0] for i in infos})
    except OSError:
        addrs = []
    start = next(turn)
    for k in range(len(addrs)):
        addr = addrs[(start + k) % len(addrs)]
        try:
            back_r, back_w = await asyncio.wait_for(asyncio.open_connection(addr, port), 2)
            break
        except (OSError, asyncio.TimeoutError):
            continue
    else:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, back_w), pipe(back_r, client_w))
    for w in (back_w, client_w):
        try:
            w.close()
        except OSError:
            pass


async def main(port, backend, backend_port):
    server = await asyncio.start_server(
        lambda r, w: relay(r, w, backend, backend_port), "0.0.0.0", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
    except KeyboardInterrupt:
        pass
