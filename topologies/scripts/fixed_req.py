# A user-style script, unmodified for zmqrun: a client of the hard-coded port.
import zmq

context = zmq.Context()
socket = context.socket(zmq.REQ)
socket.connect("tcp://localhost:25555")
for i in range(1, 6):
    socket.send_string(f"Hello {i}")
    print(f"reply {i}: {socket.recv_string()}")
socket.close()
context.term()
