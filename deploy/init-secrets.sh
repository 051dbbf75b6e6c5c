#!/usr/bin/env bash
# Create the compose secrets once: random MINGYUE_SECRET_KEY (64 hex characters) and passwords of
# PostgreSQL, Redis and Mosquitto, in MINGYUE_SECRETS_DIR (default deploy/secrets). Existing
# files are kept (rotating the secret key makes stored sealed secrets unreadable). The files are
# owned by the image's user (uid 10001) with mode 0400: the mingyue processes run as that user,
# the service images read them as root before dropping privileges.
set -euo pipefail
DIR="${MINGYUE_SECRETS_DIR:-$(dirname "$0")/secrets}"
UID_IN_IMAGE=10001
mkdir -p "$DIR"
chmod 0755 "$DIR"
made=0
for name in secret_key postgres_password redis_password mqtt_password; do
  f="$DIR/$name"
  [ -s "$f" ] && continue
  (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$f")
  made=$((made + 1))
done
if [ "$(id -u)" -eq 0 ]; then
  chown "$UID_IN_IMAGE:$UID_IN_IMAGE" "$DIR"/secret_key "$DIR"/*_password
else
  # rootless podman: uid 10001 inside is a sub-uid outside
  podman unshare chown "$UID_IN_IMAGE:$UID_IN_IMAGE" "$DIR"/secret_key "$DIR"/*_password
fi
chmod 0400 "$DIR"/secret_key "$DIR"/*_password
echo "init-secrets: $made new secret(s) in $DIR"
