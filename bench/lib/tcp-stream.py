#!/usr/bin/env python3
"""tcp-stream.py HOST PORT MIB: sends MIB MiB of zeros to HOST:PORT in 1 MiB writes, half-closes,
and waits for the peer to close: the peer has then read everything (bench/network.sh's sink
reads to end of stream before it exits). Fails, rather than hangs, after 60 s without progress."""
import socket
import sys


def main():
    host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    chunk = memoryview(bytearray(1 << 20))
    with socket.create_connection((host, port), timeout=60) as conn:
        for _ in range(mib):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass


if __name__ == "__main__":
    main()
