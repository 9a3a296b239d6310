#!/bin/sh
# A throwaway CA and a certificate for the Kafka broker of docker-compose.tls.yml, in this
# folder: ca.pem (what KAFKA_SSL_CA_FILE names), broker.pem and broker.key, and
# broker-keystore.pem (the key then the certificate: the PEM keystore Kafka reads).
# For a trial only: a real deployment uses its own CA's certificates.
set -eu
cd "$(dirname "$0")"
days=${DAYS:-365}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days "$days" -subj "/CN=energy-ingest trial CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out broker.key
openssl req -new -key broker.key -out broker.csr -subj "/CN=kafka"
printf 'subjectAltName=DNS:kafka,DNS:localhost\nextendedKeyUsage=serverAuth\n' > broker.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile broker.ext -out broker.pem
cat broker.key broker.pem > broker-keystore.pem
chmod 644 ca.pem broker.pem broker-keystore.pem  # the broker runs as its image's own user
rm -f broker.csr broker.ext ca.srl
echo "made ca.pem, broker.pem, broker.key, broker-keystore.pem in $(pwd)"
