#!/usr/bin/env sh
# Creates ./secrets/ for docker-compose.yml once: a random database password (and the matching
# MBF_DATABASE_URL) and the key that encrypts xpubs, descriptors and macaroons at rest.
# BACK UP secrets/secret_key WITH THE DATABASE: without it the stored descriptors cannot be read.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
if [ -e secrets/secret_key ]; then
  echo "secrets/ already exists: not overwriting" >&2
  exit 1
fi
python3 -c 'import secrets; print(secrets.token_hex(32))' > secrets/secret_key
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$password" > secrets/postgres_password
printf 'postgresql+asyncpg://mbf:%s@postgres:5432/mbf\n' "$password" > secrets/database_url
# The directory stays private (0700); the files must be readable by the containers' users (uid 10001 for the
# app, postgres for the database), which see them as bind mounts.
chmod 0644 secrets/secret_key secrets/postgres_password secrets/database_url
echo "wrote secrets/secret_key, secrets/postgres_password, secrets/database_url (back up secret_key)" >&2
