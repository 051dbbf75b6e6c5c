#!/usr/bin/env bash
# Per-device MQTT credentials for citygov telemetry, with Mosquitto's dynamic security plugin.
#
# In production every device logs in to the broker with its own user name and password and may
# publish on its own topic only (city/<kind>/<deviceId>); the platform's subscriber logs in with
# a user that may subscribe to city/# (and its shared form $share/<group>/city/#). Anonymous
# access is off. The dev default (the local anonymous broker) needs none of this.
#
#   scripts/citygov-mqtt-setup.sh init CONFIG_FILE [ADMIN_USER]
#       create the plugin's JSON (admin password: $MQTT_ADMIN_PASSWORD, else a random one,
#       printed once) and print the mosquitto.conf lines that load it
#   scripts/citygov-mqtt-setup.sh add-platform USER [PASSWORD]
#       the subscriber of `mingyue serve` (put it in MINGYUE_CITYGOV__MQTT_URL)
#   scripts/citygov-mqtt-setup.sh add-device KIND DEVICE_ID [PASSWORD]
#       a device: user "dev-<DEVICE_ID>", role "citygov-device-<DEVICE_ID>" that allows
#       publishing on city/KIND/DEVICE_ID and nothing else; register the same user name on the
#       platform (POST /api/citygov/devices, "mqtt_username")
#   scripts/citygov-mqtt-setup.sh remove-device DEVICE_ID
#   scripts/citygov-mqtt-setup.sh disable-device DEVICE_ID | enable-device DEVICE_ID
#
# The broker to administer: $MQTT_HOST (127.0.0.1), $MQTT_PORT (1883), $MQTT_ADMIN (admin),
# $MQTT_ADMIN_PASSWORD. A generated password is printed once and never stored by this script.
set -euo pipefail

MQTT_HOST="${MQTT_HOST:-127.0.0.1}"
MQTT_PORT="${MQTT_PORT:-1883}"
MQTT_ADMIN="${MQTT_ADMIN:-admin}"
PLUGIN_DIRS=(/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib /usr/local/lib)

die() { echo "citygov-mqtt-setup: $*" >&2; exit 2; }

need_ctrl() {
  command -v mosquitto_ctrl >/dev/null 2>&1 || die "mosquitto_ctrl not found (apt-get install mosquitto-clients)"
}

new_password() {
  # 24 random bytes, URL-safe base64 (no shell-special characters)
  head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

valid_name() {
  # the same rule as the platform's device ids and kinds: no MQTT wildcards, no slashes
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || die "bad name '$1' (letters, digits, _ . -)"
}

valid_kind() {
  [[ "$1" =~ ^[a-z][a-z0-9_]{0,39}$ ]] || die "bad device kind '$1'"
}

ctrl() {
  [[ -n "${MQTT_ADMIN_PASSWORD:-}" ]] || die "set MQTT_ADMIN_PASSWORD"
  mosquitto_ctrl -h "$MQTT_HOST" -p "$MQTT_PORT" -u "$MQTT_ADMIN" -P "$MQTT_ADMIN_PASSWORD" dynsec "$@"
}

plugin_path() {
  local d
  for d in "${PLUGIN_DIRS[@]}"; do
    [[ -f "$d/mosquitto_dynamic_security.so" ]] && { echo "$d/mosquitto_dynamic_security.so"; return; }
  done
  die "mosquitto_dynamic_security.so not found (Debian: package mosquitto)"
}

cmd_init() {
  need_ctrl
  local file="${1:?usage: init CONFIG_FILE [ADMIN_USER]}" admin="${2:-$MQTT_ADMIN}"
  [[ -e "$file" ]] && die "$file exists; refusing to overwrite it"
  local pw="${MQTT_ADMIN_PASSWORD:-}"
  if [[ -z "$pw" ]]; then pw="$(new_password)"; echo "admin password (shown once): $pw"; fi
  mosquitto_ctrl dynsec init "$file" "$admin" "$pw" >/dev/null
  chmod 600 "$file"
  cat <<EOF
# add to mosquitto.conf:
per_listener_settings false
allow_anonymous false
plugin $(plugin_path)
plugin_opt_config_file $file
EOF
}

cmd_add_platform() {
  need_ctrl
  local user="${1:?usage: add-platform USER [PASSWORD]}" pw="${2:-}"
  valid_name "$user"
  [[ -n "$pw" ]] || { pw="$(new_password)"; echo "password of $user (shown once): $pw"; }
  ctrl createRole citygov-platform >/dev/null 2>&1 || true
  ctrl addRoleACL citygov-platform subscribePattern 'city/#' allow
  ctrl addRoleACL citygov-platform subscribePattern '$share/+/city/#' allow
  ctrl addRoleACL citygov-platform publishClientReceive 'city/#' allow
  ctrl createClient "$user" -p "$pw"
  ctrl addClientRole "$user" citygov-platform
}

cmd_add_device() {
  need_ctrl
  local kind="${1:?usage: add-device KIND DEVICE_ID [PASSWORD]}" id="${2:?usage: add-device KIND DEVICE_ID [PASSWORD]}" pw="${3:-}"
  valid_kind "$kind"
  valid_name "$id"
  local user="dev-$id" role="citygov-device-$id"
  [[ -n "$pw" ]] || { pw="$(new_password)"; echo "password of $user (shown once): $pw"; }
  ctrl createRole "$role"
  # the only topic this device may publish on; everything else stays denied by default
  ctrl addRoleACL "$role" publishClientSend "city/$kind/$id" allow
  ctrl createClient "$user" -p "$pw"
  ctrl addClientRole "$user" "$role"
  echo "device $id: user $user may publish on city/$kind/$id"
}

cmd_remove_device() {
  need_ctrl
  local id="${1:?usage: remove-device DEVICE_ID}"
  valid_name "$id"
  ctrl deleteClient "dev-$id"
  ctrl deleteRole "citygov-device-$id"
}

cmd_toggle_device() {
  need_ctrl
  local verb="$1" id="${2:?usage: $1-device DEVICE_ID}"
  valid_name "$id"
  ctrl "${verb}Client" "dev-$id"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    init) cmd_init "$@" ;;
    add-platform) cmd_add_platform "$@" ;;
    add-device) cmd_add_device "$@" ;;
    remove-device) cmd_remove_device "$@" ;;
    disable-device) cmd_toggle_device disable "$@" ;;
    enable-device) cmd_toggle_device enable "$@" ;;
    ""|-h|--help|help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (see --help)" ;;
  esac
}

main "$@"
