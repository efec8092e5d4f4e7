#!/usr/bin/env bash
# Topic ACLs per service principal (compose's one-shot `kafka-acls` job, run as admin).
# The broker denies everything no ACL allows (allow.everyone.if.no.acl.found=false); admin and
# ops are super users. Each service may read the topics it consumes (and its consumer groups),
# write the topics it produces (dead-letter topics included), and use its transactional ids.
# docs/security.md lists the same table.
set -euo pipefail
cfg="$(mktemp)"
cat >"${cfg}" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_PASSWORD_ADMIN:?KAFKA_PASSWORD_ADMIN is not set}";
PROPS
acl() { /opt/kafka/bin/kafka-acls.sh --bootstrap-server "${BOOTSTRAP:-kafka:9092}" --command-config "${cfg}" --add "$@" >/dev/null; }
read_topics() { local who="$1"; shift; for t in "$@"; do acl --allow-principal "User:${who}" --operation Read --operation Describe --topic "${t}"; done; }
write_topics() { local who="$1"; shift; for t in "$@"; do acl --allow-principal "User:${who}" --operation Write --operation Describe --topic "${t}"; done; }
group_prefix() { acl --allow-principal "User:$1" --operation Read --operation Describe --group "$2" --resource-pattern-type prefixed; }
txn_prefix() { acl --allow-principal "User:$1" --operation Write --operation Describe --transactional-id "$2" --resource-pattern-type prefixed; }
prefixed() { local who="$1" op="$2" prefix="$3"; acl --allow-principal "User:${who}" --operation "${op}" --operation Describe --topic "${prefix}" --resource-pattern-type prefixed; }

# Every service may see which topics exist (readiness checks that its topics exist).
for who in ingestion validator trainer predictor gateway drift-monitor; do
  acl --allow-principal "User:${who}" --operation Describe --topic '*'
done

read_topics ingestion listings.raw.v1
write_topics ingestion listings.ingested.v1 listings.raw.dlq.v1
group_prefix ingestion valora-ingestion
txn_prefix ingestion valora-ingestion

read_topics validator listings.ingested.v1
write_topics validator listings.validated.v1 listings.rejected.v1 listings.ingested.dlq.v1
group_prefix validator valora-validator
txn_prefix validator valora-validator

read_topics trainer listings.validated.v1 training.requests.v1 sales.observed.v1
write_topics trainer models.trained.v1 models.promoted.v1 listings.validated.dlq.v1 training.requests.dlq.v1 sales.observed.dlq.v1
group_prefix trainer valora-trainer

read_topics predictor predictions.requests.v1 listings.validated.v1 models.promoted.v1
write_topics predictor predictions.made.v1 drift.alerts.v1 predictions.requests.dlq.v1 listings.validated.dlq.v1 models.promoted.dlq.v1
prefixed predictor Write predictions.replies.
group_prefix predictor valora-predictor

write_topics gateway predictions.requests.v1 listings.raw.v1 predictions.replies.all.dlq.v1
prefixed gateway Read predictions.replies.
prefixed gateway Write predictions.replies.

read_topics drift-monitor listings.validated.v1 predictions.made.v1 sales.observed.v1 models.promoted.v1
write_topics drift-monitor drift.alerts.v1 training.requests.v1 listings.validated.dlq.v1 predictions.made.dlq.v1 sales.observed.dlq.v1 models.promoted.dlq.v1
group_prefix drift-monitor valora-drift
rm -f "${cfg}"
echo "topic ACLs applied"
