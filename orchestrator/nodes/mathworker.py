"""Lab 03 workers. `gcd` answers "gcd A B" with "gcd for A B is C"; `isprime` answers
"isprime N" with "N is prime" or "N is not prime". Input on `inputs` (SUB, filtered by its
command), answers on `outputs` (PUSH)."""

from __future__ import annotations

import argparse
import math

from orchestrator.node import Node


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))


def answer(command: str, args: list[str]) -> str:
    try:
        numbers = [int(a) for a in args]
    except ValueError:
        return f"{command}: expected whole numbers, got {' '.join(args)!r}"
    if command == "gcd" and len(numbers) == 2:
        return f"gcd for {numbers[0]} {numbers[1]} is {math.gcd(*numbers)}"
    if command == "isprime" and len(numbers) == 1:
        return f"{numbers[0]} is {'prime' if is_prime(numbers[0]) else 'not prime'}"
    return f"{command}: wrong number of arguments"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("command", choices=["gcd", "isprime"], help="which questions this worker answers")
    command = ap.parse_args().command
    with Node() as node:
        inputs = node.socket("inputs", subscribe=command + " ")
        outputs = node.socket("outputs")
        print(f"{command} worker ready")
        while True:
            _, *args = node.recv_string(inputs).split()
            result = answer(command, args)
            print(result)
            outputs.send_string(result)


if __name__ == "__main__":
    main()
