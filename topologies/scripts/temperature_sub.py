# A user-style script, unmodified for zmqrun: subscribes to every port given on the command
# line and prints five readings for 10001.
import sys

import zmq

context = zmq.Context()
socket = context.socket(zmq.SUB)
for port in sys.argv[1:]:
    socket.connect(f"tcp://localhost:{port}")
socket.setsockopt_string(zmq.SUBSCRIBE, "10001")
for _ in range(5):
    print("reading:", socket.recv_string())
print("subscriber done")
socket.close()
context.term()
