"""Lab 03 broker server: takes client lines on `client_inputs` (REP), confirms them, publishes
them to the workers on `worker_inputs` (PUB, the first word is the topic), collects answers on
`worker_outputs` (PULL) and publishes them to clients on `client_outputs` (PUB)."""

from __future__ import annotations

import argparse

from orchestrator.node import Node


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()  # no options; --help says what it does
    with Node() as node:
        inputs, outputs = node.socket("client_inputs"), node.socket("client_outputs")
        work, results = node.socket("worker_inputs"), node.socket("worker_outputs")
        workers = node.wait_for_peers("worker_inputs", timeout=10)
        print(f"broker up with {workers} workers subscribed")
        while True:
            for sock in node.poll([inputs, results]):
                if sock is inputs:
                    line = inputs.recv_string()
                    inputs.send_string(f"accepted: {line}")
                    print(f"client asked: {line}")
                    work.send_string(line)
                else:
                    answer = results.recv_string()
                    print(f"answer: {answer}")
                    outputs.send_string(answer)


if __name__ == "__main__":
    main()
