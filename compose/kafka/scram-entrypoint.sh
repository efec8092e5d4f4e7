#!/usr/bin/env bash
# Kafka (KRaft) with SCRAM-SHA-512 on every client listener. KRaft keeps SCRAM credentials in
# its metadata log, and the broker needs its own (inter-broker) credentials before it can
# start, so they are written when the storage is formatted (`kafka-storage format
# --add-scram`), once, before the image's own start-up (which then finds the storage formatted).
#
# Principals (one per service, passwords from compose/.env): admin (the broker itself and the
# ACL job), ops (topic creation: a super user like admin), ingestion, validator, trainer,
# predictor, gateway, drift-monitor. Their topic ACLs: compose/kafka/acls.sh.
set -euo pipefail

data_dir="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
if [[ ! -f "${data_dir}/meta.properties" ]]; then
  props="$(mktemp)"
  cat >"${props}" <<PROPS
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
listeners=${KAFKA_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
log.dirs=${data_dir}
PROPS
  scram=()
  for principal in admin ops ingestion validator trainer predictor gateway drift-monitor; do
    var="KAFKA_PASSWORD_$(echo "${principal}" | tr 'a-z-' 'A-Z_')"
    scram+=(--add-scram "SCRAM-SHA-512=[name=${principal},password=${!var:?${var} is not set}]")
  done
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "${CLUSTER_ID}" -c "${props}" "${scram[@]}"
  rm -f "${props}"
fi
# The health check's client credentials (the admin's), readable by the broker's user only.
umask 077
cat >/tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_PASSWORD_ADMIN}";
PROPS
exec /etc/kafka/docker/run
