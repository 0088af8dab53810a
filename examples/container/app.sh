#!/bin/sh
# The container's main program. When it exits, init stops the services, lets
# their loggers drain, and exits with its status.
trap 'echo "app: stopping"; exit 0' TERM INT
echo "app: up; services are in /service"
while :; do
	sleep 1 &
	wait $!
done
