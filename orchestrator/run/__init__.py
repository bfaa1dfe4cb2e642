"""One run: plan ports and processes, supervise them, stop them, sweep up and verify."""
