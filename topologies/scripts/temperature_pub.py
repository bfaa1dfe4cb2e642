# A user-style script, unmodified for zmqrun: publishes readings on the port given on the
# command line, and cleans up on Ctrl-C.
import random
import sys
import time

import zmq

port = int(sys.argv[1])
context = zmq.Context()
socket = context.socket(zmq.PUB)
socket.bind(f"tcp://127.0.0.1:{port}")
try:
    while True:
        reading = f"{random.choice([10001, 10002])} {random.randrange(-20, 40)}"
        socket.send_string(reading)
        print("published", reading, "on", port)
        time.sleep(0.05)
except KeyboardInterrupt:
    print("publisher interrupted, closing")
    socket.close(linger=0)
    context.term()
