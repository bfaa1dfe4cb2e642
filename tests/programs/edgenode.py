"""A node for the edge tests that does not use zmqrun's helper: it opens the sockets zmqrun
declares (from ZMQRUN_SOCKETS) with plain pyzmq, then plays one role given on its command line.

  pub SOCK TOPIC     publish "TOPIC n" in small bursts, forever
  sub SOCK PREFIX    subscribe to PREFIX and receive forever
  push SOCK COUNT    send COUNT messages at once, then wait
  gate SOCK FILE     wait until FILE exists, then send in small bursts forever (traffic starts late)
  pull SOCK DELAY    wait DELAY seconds before opening the sockets, then receive forever
  listen             also listen on a port nobody declared, then wait
  idle               open nothing at all (a declared edge that never connects)
  wait               open the sockets and wait
"""

import json
import os
import sys
import time

import zmq

role, args = sys.argv[1], sys.argv[2:]
if role == "pull":
    time.sleep(float(args[1]))
ctx = zmq.Context()
sockets = {}
if role != "idle":
    for name, spec in json.loads(os.environ["ZMQRUN_SOCKETS"]).items():
        s = ctx.socket(getattr(zmq, spec["type"]))
        s.linger = 0
        for endpoint in spec["endpoints"]:
            (s.bind if spec["bind"] else s.connect)(endpoint)
        sockets[name] = s
print("sockets open", flush=True)
if role == "listen":
    extra = ctx.socket(zmq.PULL)
    extra.linger = 0
    sockets["undeclared"] = extra
    print("undeclared port", extra.bind_to_random_port("tcp://127.0.0.1"), flush=True)
if role == "sub":
    sockets[args[0]].setsockopt_string(zmq.SUBSCRIBE, args[1])
if role == "push":
    for i in range(int(args[1])):
        sockets[args[0]].send(b"x" * 100)
    print("pushed", flush=True)
try:
    n = 0
    while True:
        if role == "gate":
            if os.path.exists(args[1]):
                for _ in range(50):
                    sockets[args[0]].send(b"y" * 200)
            time.sleep(0.02)
        elif role == "pub":
            for _ in range(200):
                sockets[args[0]].send_string(f"{args[1]} {n}")
                n += 1
            time.sleep(0.01)
        elif role in ("sub", "pull"):
            sockets[args[0]].recv()
            n += 1
            if n == 1:
                print("received", flush=True)
        else:
            time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    for s in sockets.values():
        s.close()
    ctx.term()
