#!/bin/bash
# MongoDB server for the Ant Media Server cluster (made by ams-stack).
# Installs a pinned MongoDB release from MongoDB's own apt repository and listens on the
# private network; the security group admits only the AMS nodes on 27017.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
MONGODB_SERIES=7.0
MONGODB_VERSION=7.0.14
. /etc/os-release
apt-get update -y
apt-get install -y gnupg curl
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
