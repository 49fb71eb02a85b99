#!/usr/bin/env bash
# Writes the config of a running deployment (Key Vault secret "config-string", as deploy.sh stores it) to a file:
#
#   deploy/azure/export-config.sh KEY_VAULT_NAME FILE        e.g. abcpowerproxyaoai production.config.yaml
#
# The file holds every key and password of the config: keep it out of version control.
set -euo pipefail
die() { printf 'export-config: %s\n' "$*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: deploy/azure/export-config.sh KEY_VAULT_NAME FILE"
vault=$1 file=$2
value=$(az keyvault secret show --vault-name "$vault" --name config-string --query value --output tsv) \
  || die "cannot read secret config-string from Key Vault '$vault' (see the az message above)"
(umask 077 && printf '%s\n' "$value" >"$file")
printf 'wrote the config of Key Vault %s to %s\n' "$vault" "$file" >&2
