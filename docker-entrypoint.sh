#!/bin/sh
# The container's entry point: wait for the database, migrate it, then become `monitor run`.
# Runs as well outside a container (the tests run it directly): everything comes from the
# environment, and arguments are passed on to `monitor run`.
set -eu

config="${MONITOR_CONFIG:-/config}"
wait_seconds="${MONITOR_DB_WAIT_SECONDS:-60}"

# The database may still be starting (compose waits for its healthcheck, other orchestrators
# may not): retry the migration for a while rather than crash-looping.
waited=0
until monitor db upgrade; do
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "entrypoint: the database did not accept the migration within ${wait_seconds}s;" \
            "check MONITOR_DATABASE_URL and that the server is up (the error above says why)," \
            "or wait longer with MONITOR_DB_WAIT_SECONDS" >&2
        exit 2
    fi
    echo "entrypoint: database not ready; retrying in 2s" >&2
    sleep 2
    waited=$((waited + 2))
done

# exec: the monitor gets SIGTERM from the orchestrator directly and stops within 10 s.
exec monitor run "$config" "$@"
