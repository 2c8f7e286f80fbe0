"""A TCP proxy that stands in for a network between a client and PostgreSQL: every chunk it forwards,
either way, waits `--delay-ms` first (issue 17: Dagster's storage across a slow link,
docs/scale.md "Thirty-seventh round (b)", "(c)").

    python bench/latency_proxy.py --listen 15432 --to 127.0.0.1:5432 --delay-ms 0.25 &
    python bench/rerun_steps.py --storage postgres --reruns 6 --dagster-via 127.0.0.1:15432

On this machine the proxy alone makes a `SELECT 1` round trip 0.29 ms (0.07 ms direct), and
`--delay-ms 0.25` 2.45 ms (asyncio's timer granularity): measure the round trip you get, as
`--probe` does.
"""

from __future__ import annotations

import argparse
import asyncio
import time


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    try:
        while data := await reader.read(1 << 16):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(listen: int, host: str, port: int, delay_s: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        await asyncio.gather(_pipe(client_r, server_w, delay_s), _pipe(server_r, client_w, delay_s))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def probe(port: int, n: int = 200) -> float:
    """A `SELECT 1` round trip through 127.0.0.1:`port`, ms (the median is not needed: it is steady)."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        started = time.perf_counter()
        for _ in range(n):
            cur.execute("SELECT 1")
        ms = (time.perf_counter() - started) / n * 1000
    conn.close()
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, default=15432)
    parser.add_argument("--to", default="127.0.0.1:5432")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--probe", action="store_true", help="print a round trip through a running proxy and exit")
    args = parser.parse_args()
    if args.probe:
        print(f"SELECT 1 through 127.0.0.1:{args.listen}: {probe(args.listen):.3f} ms a round trip")
        return
    host, port = args.to.rsplit(":", 1)
    asyncio.run(serve(args.listen, host, int(port), args.delay_ms / 1000))


if __name__ == "__main__":
    main()
