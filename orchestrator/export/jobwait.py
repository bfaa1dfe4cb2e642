"""In a pod, before its node: wait until Jobs of the same namespace have completed, asking the
Kubernetes API with the pod's service account. The init step `zmqrun export kubernetes` gives a
node that `depends_on: {X: process_completed_successfully}`: Kubernetes starts every workload at
once, and this is the one order a readiness probe cannot give (X must have ended, and ended well).

Run as `python -m orchestrator.export.jobwait JOB...` (the image holds zmqrun). Exit 0 once every
Job has the condition Complete; 1 as soon as one has the condition Failed, so the node never
starts after a failed dependency (the kubelet retries the init step, as zmqrun would not start
the node at all). Anything else (the API not answering yet, the Job not created yet, the Role
not bound yet) is waited out, and said once on stderr."""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"  # where the kubelet mounts the pod's token
POLL = 2.0


def state(job: dict[str, Any]) -> str | None:
    """'Complete' or 'Failed' once the Job controller has said so, else None (still running)."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def wait(jobs: Sequence[str], environ: Mapping[str, str], account: str = ACCOUNT, poll: float = POLL,
         say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> int:  # fmt: skip
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    with open(os.path.join(account, "namespace"), encoding="utf-8") as f:
        namespace = f.read().strip()
    context = ssl.create_default_context(cafile=os.path.join(account, "ca.crt"))
    pending = list(jobs)
    said: dict[str, str] = {}
    while pending:
        for job in list(pending):
            url = f"https://{host}:{port}/apis/batch/v1/namespaces/{namespace}/jobs/{job}"
            with open(os.path.join(account, "token"), encoding="utf-8") as f:  # the kubelet rotates it
                token = f.read().strip()
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, context=context, timeout=10) as response:
                    found = state(json.load(response))
                news = f"job {job}: {'running' if found is None else found.lower()}"
            except urllib.error.HTTPError as exc:
                found, news = None, f"job {job}: the API answers {exc.code} {exc.reason}"
            except (OSError, ValueError) as exc:
                found, news = None, f"job {job}: the API cannot be asked yet ({exc})"
            if said.get(job) != news:
                said[job] = news
                say(news)
            if found == "Failed":
                return 1
            if found == "Complete":
                pending.remove(job)
        if pending:
            time.sleep(poll)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    jobs = list(sys.argv[1:] if argv is None else argv)
    if not jobs:
        print("usage: python -m orchestrator.export.jobwait JOB...", file=sys.stderr)
        return 2
    return wait(jobs, os.environ)


if __name__ == "__main__":
    sys.exit(main())
