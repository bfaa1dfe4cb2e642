# A user-style script, unmodified for zmqrun: a reply server on a hard-coded port.
import zmq

context = zmq.Context()
socket = context.socket(zmq.REP)
socket.setsockopt(zmq.LINGER, 0)
socket.bind("tcp://localhost:25555")
try:
    while True:
        message = socket.recv_string()
        print(f"Received request: {message}")
        socket.send_string("World")
except KeyboardInterrupt:
    print("server interrupted, closing")
    socket.close()
    context.term()
