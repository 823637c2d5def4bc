#!/bin/sh
# Runs a command inside a private network namespace whose only interface is loopback
# (brought up first), so servers that listen on every interface (Orthanc 1.10, dcmqrscp)
# are reachable from nothing but this command and its children.
#
#   scripts/in-netns.sh .venv/bin/pytest tests/test_servers.py -q
#
# Install everything first: package registries are outside the namespace.
# As root this uses `unshare --net`; otherwise a user namespace maps us to root in it
# (`unshare -rn`), which needs unprivileged user namespaces to be enabled.
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi
if [ "$(id -u)" = 0 ]; then
    exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' -- "$@"
fi
exec unshare -rn -- sh -c 'ip link set lo up && exec "$@"' -- "$@"
