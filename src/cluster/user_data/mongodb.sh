#!/bin/bash
# MongoDB server for the Ant Media Server cluster (made by ams-stack).
# Installs a pinned MongoDB release from MongoDB's own apt repository, turns authentication on and
# creates the one user the AMS nodes log in as. Its password is read from SSM Parameter Store at
# boot through the instance role; it is never written in this script, in a file or in a log.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
MONGODB_SERIES=7.0
MONGODB_VERSION=7.0.14
REGION="{REGION}"
PARAMETER="{PARAMETER}"
. /etc/os-release
apt-get update -y
apt-get install -y gnupg curl unzip
if ! command -v aws >/dev/null; then
  apt-get install -y awscli || snap install aws-cli --classic
fi
curl -fsSL "https://www.mongodb.org/static/pgp/server-${MONGODB_SERIES}.asc" \
  | gpg --dearmor -o "/usr/share/keyrings/mongodb-server-${MONGODB_SERIES}.gpg"
echo "deb [ arch=amd64 signed-by=/usr/share/keyrings/mongodb-server-${MONGODB_SERIES}.gpg ] https://repo.mongodb.org/apt/ubuntu ${VERSION_CODENAME}/mongodb-org/${MONGODB_SERIES} multiverse" \
  > "/etc/apt/sources.list.d/mongodb-org-${MONGODB_SERIES}.list"
apt-get update -y
apt-get install -y "mongodb-org=${MONGODB_VERSION}" "mongodb-org-server=${MONGODB_VERSION}" \
  "mongodb-org-shell=${MONGODB_VERSION}" "mongodb-org-tools=${MONGODB_VERSION}" \
  "mongodb-org-mongos=${MONGODB_VERSION}" "mongodb-org-database=${MONGODB_VERSION}"
apt-mark hold mongodb-org mongodb-org-server mongodb-org-mongos mongodb-org-tools
sed -i 's/^  bindIp: .*/  bindIp: 0.0.0.0/' /etc/mongod.conf
systemctl enable --now mongod
until mongosh --quiet --eval 'db.runCommand({ ping: 1 })' >/dev/null 2>&1; do sleep 2; done

# The nodes' user: read and write the AMS databases, SCRAM-SHA-256, nothing more.
for attempt in $(seq 1 30); do
  AMS_MONGODB_PASSWORD=$(aws ssm get-parameter --region "$REGION" --name "$PARAMETER" \
    --with-decryption --query Parameter.Value --output text) && break
  sleep 10
done
export AMS_MONGODB_PASSWORD
if ! grep -q '^security:' /etc/mongod.conf; then
  mongosh --quiet admin --eval '
    db.createUser({ user: "antmedia", pwd: process.env.AMS_MONGODB_PASSWORD,
      roles: [ { role: "readWriteAnyDatabase", db: "admin" } ], mechanisms: [ "SCRAM-SHA-256" ] })'
  printf 'security:\n  authorization: enabled\n' >> /etc/mongod.conf
  systemctl restart mongod
fi
unset AMS_MONGODB_PASSWORD
