#!/bin/bash
# Ant Media Server {ROLE} node in cluster mode (made by ams-stack).
# Since AMS 3.0 change_server_mode.sh needs one full mongodb:// URI (separate user and password
# arguments are deprecated; a bare IP makes it ask a question nobody answers at boot, and the node
# stays standalone). The password is read from SSM Parameter Store through the instance role.
set -euo pipefail
REGION="{REGION}"
PARAMETER="{PARAMETER}"
if ! command -v aws >/dev/null; then
  apt-get update -y && (apt-get install -y awscli || snap install aws-cli --classic)
fi
for _ in $(seq 1 30); do
  PASSWORD=$(aws ssm get-parameter --region "$REGION" --name "$PARAMETER" \
    --with-decryption --query Parameter.Value --output text) && break
  sleep 10
done
cd /usr/local/antmedia
./change_server_mode.sh cluster "mongodb://antmedia:${PASSWORD}@{MONGODB_HOST}:27017/?authSource=admin"
unset PASSWORD
