"""The benchmark IVR on greenswitch's OutboundESLServer (gevent); every step blocks until done."""

import sys

from gevent import monkey

monkey.patch_all()

from greenswitch.esl import OutboundESLServer  # noqa: E402

from ivr_steps import STEPS  # noqa: E402


class IVR:
    def __init__(self, session):
        self.session = session

    def run(self):
        session = self.session
        session.myevents()
        session.linger()
        for app, arg in STEPS:
            session.call_command(app, arg, block=True, response_timeout=30)
        session.hangup("NORMAL_CLEARING")


if __name__ == "__main__":
    server = OutboundESLServer(bind_address="127.0.0.1", bind_port=int(sys.argv[1]), application=IVR,
                               max_connections=100000)
    print("listening", flush=True)
    server.listen()
