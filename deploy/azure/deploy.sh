#!/usr/bin/env bash
# Deploys PowerProxy for Azure OpenAI to Azure Container Apps with the Azure CLI, in one command:
#
#   deploy/azure/deploy.sh config/config.azure.yaml
#
# Creates, in the config's resource_group and region (all names are <unique_prefix>powerproxyaoai, as the Python
# original's Deploy-ToAzure.ps1 names them):
#   resource group, user-assigned managed identity, Key Vault (the config as secret "config-string"),
#   Azure Cache for Redis (Standard C0), Log Analytics workspace + table AzureOpenAIUsage_PP_CL + data collection
#   endpoint + rule (deploy/log-analytics/) + "Monitoring Metrics Publisher" for the identity on the rule,
#   container registry (Basic) + `az acr build` of the repository's Dockerfile + "AcrPull" for the identity,
#   Container Apps environment + the Container App, which reads the config from the Key Vault secret.
# Before storing the config it fills every `<will be set by deployment script>` value of: 
#   user_assigned_managed_identity_client_id, redis_host, redis_password, log_ingestion_endpoint,
#   data_collection_rule_id.
# Then it prints the proxy's URL.
#
# Run it again at any time: what exists is kept (nothing is deleted, a soft-deleted Key Vault is recovered),
# the image is built only when its tag (the git commit) is not in the registry yet, and the app gets a new
# revision only when the image or the config changed.
#
# Needs: bash, the Azure CLI (`az login` done), git. The config's top-level keys azure_subscription_id (optional),
# resource_group, region and unique_prefix (1-10 lower-case letters and digits) must each be on one line.
set -euo pipefail

die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*" >&2; }

[ $# -eq 1 ] || die "usage: deploy/azure/deploy.sh CONFIG_FILE"
CONFIG_FILE=$1
[ -f "$CONFIG_FILE" ] || die "the config file '$CONFIG_FILE' does not exist"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v az >/dev/null || die "the Azure CLI (az) is not on PATH: https://learn.microsoft.com/cli/azure/install-azure-cli"

# A top-level scalar of the config: the text after "key:", without quotes and a trailing comment.
config_value() {
  sed -n "s/^$1:[[:space:]]*//p" "$CONFIG_FILE" | head -n 1 | sed 's/[[:space:]]#.*$//; s/^["'\'']//; s/["'\'']\{0,1\}[[:space:]]*$//'
}
SUBSCRIPTION=$(config_value azure_subscription_id)
RG=$(config_value resource_group)
REGION=$(config_value region)
PREFIX=$(config_value unique_prefix)
[ -n "$RG" ] || die "$CONFIG_FILE has no top-level resource_group: the resource group to deploy into"
[ -n "$REGION" ] || die "$CONFIG_FILE has no top-level region, e.g. region: swedencentral"
[[ "$PREFIX" =~ ^[a-z0-9]{1,10}$ ]] \
  || die "$CONFIG_FILE's unique_prefix must be 1 to 10 lower-case letters or digits (Key Vault and registry names are built from it), got '$PREFIX'"

NAME=${PREFIX}powerproxyaoai
APP=powerproxyaoai
TABLE=AzureOpenAIUsage_PP_CL
IMAGE_TAG=${IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)}
IMAGE=$NAME.azurecr.io/powerproxy:$IMAGE_TAG

exists() { "$@" --output none >/dev/null 2>&1; }

if [ -n "$SUBSCRIPTION" ]; then
  az account set --subscription "$SUBSCRIPTION"
fi

step "resource providers and CLI extension"
for namespace in Microsoft.App Microsoft.OperationalInsights Microsoft.Insights Microsoft.ContainerRegistry \
                 Microsoft.KeyVault Microsoft.Cache Microsoft.ManagedIdentity; do
  state=$(az provider show --namespace "$namespace" --query registrationState --output tsv 2>/dev/null || true)
  [ "$state" = Registered ] || az provider register --namespace "$namespace" --wait --output none
done
exists az extension show --name monitor-control-service || az extension add --name monitor-control-service --output none

step "resource group $RG"
exists az group show --name "$RG" || az group create --name "$RG" --location "$REGION" --output none

step "managed identity $NAME"
exists az identity show --name "$NAME" --resource-group "$RG" \
  || az identity create --name "$NAME" --resource-group "$RG" --location "$REGION" --output none
IDENTITY_ID=$(az identity show --name "$NAME" --resource-group "$RG" --query id --output tsv)
IDENTITY_PRINCIPAL=$(az identity show --name "$NAME" --resource-group "$RG" --query principalId --output tsv)
IDENTITY_CLIENT=$(az identity show --name "$NAME" --resource-group "$RG" --query clientId --output tsv)

# A role for the identity on a scope, unless it has it already.
grant() {
  local role=$1 scope=$2 present
  present=$(az role assignment list --assignee "$IDENTITY_PRINCIPAL" --role "$role" --scope "$scope" \
    --query 'length(@)' --output tsv)
  [ "$present" != 0 ] || az role assignment create --assignee-object-id "$IDENTITY_PRINCIPAL" \
    --assignee-principal-type ServicePrincipal --role "$role" --scope "$scope" --output none
}

step "Key Vault $NAME"
if ! exists az keyvault show --name "$NAME" --resource-group "$RG"; then
  if [ -n "$(az keyvault list-deleted --query "[?name=='$NAME'].name" --output tsv)" ]; then
    az keyvault recover --name "$NAME" --output none
  else
    # Access policies (not RBAC), as the original: the identity may read secrets, the signed-in user gets full access.
    az keyvault create --name "$NAME" --resource-group "$RG" --location "$REGION" \
      --enable-rbac-authorization false --output none
  fi
fi
KEY_VAULT_URI=$(az keyvault show --name "$NAME" --resource-group "$RG" --query properties.vaultUri --output tsv)
az keyvault set-policy --name "$NAME" --resource-group "$RG" --object-id "$IDENTITY_PRINCIPAL" \
  --secret-permissions get --output none

step "Azure Cache for Redis $NAME (the slowest to create)"
exists az redis show --name "$NAME" --resource-group "$RG" \
  || az redis create --name "$NAME" --resource-group "$RG" --location "$REGION" --sku Standard --vm-size c0 \
       --minimum-tls-version 1.2 --output none
REDIS_HOST=$(az redis show --name "$NAME" --resource-group "$RG" --query hostName --output tsv)
REDIS_PASSWORD=$(az redis list-keys --name "$NAME" --resource-group "$RG" --query primaryKey --output tsv)

step "Log Analytics workspace $NAME, table $TABLE, data collection endpoint and rule"
exists az monitor log-analytics workspace show --workspace-name "$NAME" --resource-group "$RG" \
  || az monitor log-analytics workspace create --workspace-name "$NAME" --resource-group "$RG" \
       --location "$REGION" --output none
WORKSPACE_ID=$(az monitor log-analytics workspace show --workspace-name "$NAME" --resource-group "$RG" --query id --output tsv)
WORKSPACE_CUSTOMER_ID=$(az monitor log-analytics workspace show --workspace-name "$NAME" --resource-group "$RG" \
  --query customerId --output tsv)
exists az monitor log-analytics workspace table show --workspace-name "$NAME" --resource-group "$RG" --name "$TABLE" \
  || az rest --method put --body "@$ROOT/deploy/log-analytics/table.json" \
       --url "https://management.azure.com$WORKSPACE_ID/tables/$TABLE?api-version=2022-10-01" --output none
exists az monitor data-collection endpoint show --name "$NAME" --resource-group "$RG" \
  || az monitor data-collection endpoint create --name "$NAME" --resource-group "$RG" --location "$REGION" \
       --public-network-access Enabled --output none
DCE_ID=$(az monitor data-collection endpoint show --name "$NAME" --resource-group "$RG" --query id --output tsv)
LOG_INGESTION_ENDPOINT=$(az monitor data-collection endpoint show --name "$NAME" --resource-group "$RG" \
  --query logsIngestion.endpoint --output tsv)
exists az monitor data-collection rule show --name "$TABLE" --resource-group "$RG" \
  || az deployment group create --resource-group "$RG" --name "$TABLE" \
       --template-file "$ROOT/deploy/log-analytics/dcr.template.json" \
       --parameters dataCollectionRuleName="$TABLE" workspaceResourceId="$WORKSPACE_ID" \
                    dataCollectionEndpointId="$DCE_ID" extendedColumns=true --output none
DCR_ID=$(az monitor data-collection rule show --name "$TABLE" --resource-group "$RG" --query id --output tsv)
DCR_IMMUTABLE_ID=$(az monitor data-collection rule show --name "$TABLE" --resource-group "$RG" --query immutableId --output tsv)
grant "Monitoring Metrics Publisher" "$DCR_ID"

step "container registry $NAME and image $IMAGE"
exists az acr show --name "$NAME" --resource-group "$RG" \
  || az acr create --name "$NAME" --resource-group "$RG" --location "$REGION" --sku Basic --output none
ACR_ID=$(az acr show --name "$NAME" --resource-group "$RG" --query id --output tsv)
grant AcrPull "$ACR_ID"
exists az acr repository show --name "$NAME" --image "powerproxy:$IMAGE_TAG" \
  || az acr build --registry "$NAME" --image "powerproxy:$IMAGE_TAG" --file "$ROOT/Dockerfile" "$ROOT"

step "config: filling <will be set by deployment script> and storing it in Key Vault as config-string"
filled=$(mktemp)
trap 'rm -f "$filled"' EXIT
V_user_assigned_managed_identity_client_id=$IDENTITY_CLIENT V_redis_host=$REDIS_HOST V_redis_password=$REDIS_PASSWORD \
V_log_ingestion_endpoint=$LOG_INGESTION_ENDPOINT V_data_collection_rule_id=$DCR_IMMUTABLE_ID \
awk '
  match($0, /^[ \t-]*[a-z_]+[ \t]*:[ \t]*["'\'']?<will be set by deployment script>["'\'']?[ \t]*$/) {
    line = $0; sub(/^[ \t-]*/, "", line); key = line; sub(/[ \t]*:.*$/, "", key)
    if (("V_" key) in ENVIRON) {
      prefix = $0; sub(/:.*$/, ":", prefix)
      print prefix " \"" ENVIRON["V_" key] "\""; next
    }
  }
  { print }' "$CONFIG_FILE" >"$filled"
if grep -q '<will be set by deployment script>' "$filled"; then
  die "$CONFIG_FILE has <will be set by deployment script> under a key this script does not fill: $(grep -n '<will be set by deployment script>' "$filled" | cut -d: -f1 | tr '\n' ' ')"
fi
current=$(az keyvault secret show --vault-name "$NAME" --name config-string --query value --output tsv 2>/dev/null || true)
config_changed=false
if [ "$current" != "$(cat "$filled")" ]; then
  az keyvault secret set --vault-name "$NAME" --name config-string --file "$filled" --output none
  config_changed=true
fi

step "Container Apps environment $APP and app $APP"
exists az containerapp env show --name "$APP" --resource-group "$RG" \
  || az containerapp env create --name "$APP" --resource-group "$RG" --location "$REGION" \
       --logs-destination log-analytics --logs-workspace-id "$WORKSPACE_CUSTOMER_ID" \
       --logs-workspace-key "$(az monitor log-analytics workspace get-shared-keys --workspace-name "$NAME" \
                                --resource-group "$RG" --query primarySharedKey --output tsv)" --output none
if ! exists az containerapp show --name "$APP" --resource-group "$RG"; then
  az containerapp create --name "$APP" --resource-group "$RG" --environment "$APP" --image "$IMAGE" \
    --user-assigned "$IDENTITY_ID" --registry-server "$NAME.azurecr.io" --registry-identity "$IDENTITY_ID" \
    --secrets "config-string=keyvaultref:${KEY_VAULT_URI}secrets/config-string,identityref:$IDENTITY_ID" \
    --env-vars POWERPROXY_CONFIG_STRING=secretref:config-string \
    --ingress external --target-port 8080 --cpu 0.5 --memory 1Gi --min-replicas 1 --max-replicas 3 --output none
else
  running=$(az containerapp show --name "$APP" --resource-group "$RG" \
    --query 'properties.template.containers[0].image' --output tsv)
  if [ "$running" != "$IMAGE" ]; then
    az containerapp update --name "$APP" --resource-group "$RG" --image "$IMAGE" --output none
  elif [ "$config_changed" = true ]; then
    # The config reaches the proxy as an environment variable, read at start: a new revision reads the new secret.
    az containerapp revision copy --name "$APP" --resource-group "$RG" --revision-suffix "cfg$(date -u +%m%d%H%M%S)" \
      --output none
  fi
fi
FQDN=$(az containerapp show --name "$APP" --resource-group "$RG" --query properties.configuration.ingress.fqdn --output tsv)

printf '\nPowerProxy runs at https://%s\n' "$FQDN"
printf 'liveness:  https://%s/powerproxy/health/liveness\n' "$FQDN"
printf 'Key Vault: %s (export-config.sh / import-config.sh change its config)\n' "$NAME"
