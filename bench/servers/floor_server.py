"""The least a server can do for the benchmark IVR: no parsing, no flow, no state but a
counter. It sends each command once the previous one is answered (a reply for the set-up
commands, a CHANNEL_EXECUTE_COMPLETE for an application), found by a substring search.

Not an engine: a floor. Its step turnaround is what this machine's kernel, scheduler and
gevent cost before any work is done, so the engines' figures can be read against it.
"""

import sys

from gevent.server import StreamServer

from ivr_steps import STEPS

SETUP = [b"connect\n\n", b"myevents\n\n", b"linger\n\n"]
APPS = [(f"sendmsg\ncall-command: execute\nexecute-app-name: {app}\n"
         + (f"execute-app-arg: {arg}\n" if arg else "")
         + f"event-lock: true\nEvent-UUID: 00000000-0000-4000-8000-{i:012d}\n\n").encode()
        for i, (app, arg) in enumerate(STEPS + [("hangup", "NORMAL_CLEARING")])]
REPLY, COMPLETE = b"Content-Type: command/reply", b"Event-Name: CHANNEL_EXECUTE_COMPLETE"


def handle(sock, _address):
    sock.setsockopt(6, 1, 1)  # TCP_NODELAY, as every server here sets
    tail = b""
    try:
        for command in SETUP:  # each waits for its reply
            sock.sendall(command)
            while REPLY not in tail:
                data = sock.recv(65536)
                if not data:
                    return
                tail += data
            tail = tail[tail.index(REPLY) + len(REPLY):]
        for command in APPS:
            sock.sendall(command)
            while COMPLETE not in tail:
                data = sock.recv(65536)
                if not data:
                    return
                tail = tail[-len(COMPLETE):] + data
            tail = tail[tail.index(COMPLETE) + len(COMPLETE):]
    finally:
        sock.close()


if __name__ == "__main__":
    server = StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=4096)
    print("listening", flush=True)
    server.serve_forever()
