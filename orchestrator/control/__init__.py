"""Control of a live run from outside it: the control socket's server, protocol and client."""
