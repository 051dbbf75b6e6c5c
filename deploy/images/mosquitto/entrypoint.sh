#!/bin/sh
# Mosquitto with one user MQTT_USER (default mingyue) whose password is MQTT_PASSWORD_FILE; no
# anonymous clients; persistence in /mosquitto; on LISTEN (default 0.0.0.0) port MQTT_PORT
# (default 1883). Root only to read the secret, then mosquitto drops to its user itself.
set -eu
: "${MQTT_PORT:=1883}" "${LISTEN:=0.0.0.0}" "${MQTT_USER:=mingyue}"
[ -n "${MQTT_PASSWORD_FILE:-}" ] || { echo "mosquitto: MQTT_PASSWORD_FILE is required" >&2; exit 2; }
umask 077
: >/mosquitto/passwd
mosquitto_passwd -b /mosquitto/passwd "$MQTT_USER" "$(head -n 1 "$MQTT_PASSWORD_FILE" | tr -d '\r\n')"
cat >/mosquitto/mosquitto.conf <<CONF
user mosquitto
listener $MQTT_PORT $LISTEN
allow_anonymous false
password_file /mosquitto/passwd
persistence true
persistence_location /mosquitto/
log_dest stdout
CONF
chown -R mosquitto:mosquitto /mosquitto
exec mosquitto -c /mosquitto/mosquitto.conf "$@"
