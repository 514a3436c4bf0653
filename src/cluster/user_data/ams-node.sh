#!/bin/bash
# Ant Media Server {ROLE} node in cluster mode (made by ams-stack).
# Since AMS 3.0 change_server_mode.sh needs a full mongodb:// URI: a bare IP makes it ask a
# question that nobody answers at boot, and the node stays standalone.
set -euo pipefail
cd /usr/local/antmedia
./change_server_mode.sh cluster "mongodb://{MONGODB_HOST}:27017"
