"""The benchmark IVR on Genesis' Outbound (asyncio); every step blocks until done."""

import asyncio
import sys

from genesis import Outbound

from ivr_steps import STEPS


async def ivr(session):
    for app, arg in STEPS:
        await session.sendmsg("execute", app, arg, lock=True, block=True, timeout=30)
    await session.sendmsg("execute", "hangup", "NORMAL_CLEARING", lock=True)


async def main(port):
    server = Outbound(ivr, host="127.0.0.1", port=port, events=True, linger=True)
    print("listening", flush=True)
    await server.start()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
