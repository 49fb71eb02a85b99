#!/usr/bin/env bash
# Replaces the config of a running deployment and restarts the proxy on it:
#
#   deploy/azure/import-config.sh KEY_VAULT_NAME FILE RESOURCE_GROUP
#
# Stores FILE as Key Vault secret "config-string", then makes a new revision of the Container App
# "powerproxyaoai": the proxy reads its config once, at start, from the environment variable the secret fills.
# Check the file first: java -jar target/powerproxy.jar --config-file FILE --validate
set -euo pipefail
die() { printf 'import-config: %s\n' "$*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: deploy/azure/import-config.sh KEY_VAULT_NAME FILE RESOURCE_GROUP"
vault=$1 file=$2 rg=$3
[ -f "$file" ] || die "the config file '$file' does not exist"
if grep -q '<will be set by deployment script>' "$file"; then
  die "$file still has <will be set by deployment script> values: export the deployed config and edit that"
fi
az keyvault secret set --vault-name "$vault" --name config-string --file "$file" --output none
az containerapp revision copy --name powerproxyaoai --resource-group "$rg" \
  --revision-suffix "cfg$(date -u +%m%d%H%M%S)" --output none
printf 'stored %s in Key Vault %s; a new revision of powerproxyaoai starts on it\n' "$file" "$vault" >&2
