#!/usr/bin/env python3
"""Events written by Confluent's reference Python serializer, read back by our tail.

Writes, with confluent-kafka's AvroSerializer (subjects by TopicRecordNameStrategy):
  - Safir-shaped `query` events (metadata fields, an enum, a time delta, an optional string);
  - events of a schema no Rust type of ours describes: unions of several branches, enums,
    date, timestamp-micros, decimal, uuid, an array, a map and a nested record;
  - one message that is not Avro at all.
Then runs `tail --from-beginning --with-meta --topic T` and checks every line against what
was written (fields at the top level, logical types rendered for people) and that the bad
message is one line on stderr naming its partition and offset.

Usage: confluent_roundtrip.py --tail PATH --bootstrap HOST:PORT --registry URL [--topic T]
Exits 0 when everything matches; prints what differs otherwise.
"""

import argparse
import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import uuid

from confluent_kafka import Producer, SerializingProducer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer

QUERY_SCHEMA = {
    "type": "record",
    "name": "query",
    "namespace": "lsst.square.metrics.events.pyapp",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "application", "type": "string"},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "timestamp_ns", "type": "long"},
        {"name": "type", "type": {"type": "enum", "name": "QueryType", "symbols": ["async", "sync"]}},
        {"name": "duration", "type": {"type": "double", "logicalType": "dataclasses-avroschema-timedelta"}},
        {"name": "username", "type": ["null", "string"], "default": None},
        {"name": "rows", "type": "long"},
    ],
}

FOREIGN_SCHEMA = {
    "type": "record",
    "name": "Shipment",
    "namespace": "com.example.logistics",
    "fields": [
        {"name": "shipment_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PENDING", "SHIPPED", "LOST"]}},
        {"name": "weight", "type": ["null", "long", "double", "string"]},
        {"name": "shipped_on", "type": {"type": "int", "logicalType": "date"}},
        {"name": "scanned_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {
            "name": "address",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [
                    {"name": "city", "type": "string"},
                    {"name": "zip", "type": ["null", "int"], "default": None},
                ],
            },
        },
    ],
}

UTC = dt.timezone.utc


def query_event(i):
    when = dt.datetime(2026, 12, 3, 10, 20, 30, 123000 + i * 1000, tzinfo=UTC)
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    return {
        "id": str(uuid.uuid4()),
        "application": "pyapp",
        "timestamp": when,
        "timestamp_ns": ns,
        "type": "sync" if i % 2 else "async",
        "duration": 0.25 * i,
        "username": None if i % 3 == 0 else f"user{i}",
        "rows": 1000 + i,
    }


def query_json(event):
    expected = dict(event)
    expected["timestamp"] = event["timestamp"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return expected


def foreign_event(i):
    weights = [None, 12 + i, 3.5 * i, f"{i} kg"]
    return {
        "shipment_id": str(uuid.uuid4()),
        "status": ["PENDING", "SHIPPED", "LOST"][i % 3],
        "weight": weights[i % 4],
        "shipped_on": dt.date(2026, 1, 1) + dt.timedelta(days=i),
        "scanned_at": dt.datetime(2026, 12, 3, 8, 0, 0, 654321, tzinfo=UTC) + dt.timedelta(seconds=i),
        "price": decimal.Decimal(f"{-i}.{i:02d}") if i % 2 else decimal.Decimal(f"{i * 100}.05"),
        "tags": [f"t{j}" for j in range(i % 3)],
        "counts": {f"k{j}": j * i for j in range(i % 2 + 1)},
        "address": {"city": f"City {i}", "zip": None if i % 2 else 10000 + i},
    }


def foreign_json(event):
    expected = dict(event)
    expected["shipped_on"] = event["shipped_on"].isoformat()
    expected["scanned_at"] = event["scanned_at"].isoformat(timespec="microseconds").replace("+00:00", "Z")
    expected["price"] = str(event["price"])
    return expected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tail", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", default=f"ci.confluent.{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    expected = {}
    written = []

    def delivered(error, message):
        if error is not None:
            sys.exit(f"delivery failed: {error}")
        written.append((message.partition(), message.offset()))

    for schema, make, to_json, key in (
        (QUERY_SCHEMA, query_event, query_json, "id"),
        (FOREIGN_SCHEMA, foreign_event, foreign_json, "shipment_id"),
    ):
        producer = SerializingProducer(
            {
                "bootstrap.servers": args.bootstrap,
                # Two schemas on one topic: subjects `{topic}-{record full name}`.
                "value.serializer": AvroSerializer(
                    registry,
                    json.dumps(schema),
                    conf={"subject.name.strategy": topic_record_subject_name_strategy},
                ),
                "linger.ms": 0,
            }
        )
        for i in range(8):
            event = make(i)
            expected[event[key]] = (to_json(event), f"{args.topic}-{schema['namespace']}.{schema['name']}")
            producer.produce(args.topic, value=event, on_delivery=delivered)
        if producer.flush(30) != 0:
            sys.exit("the serializing producer did not deliver everything in 30 s")

    bad = []
    raw = Producer({"bootstrap.servers": args.bootstrap})
    raw.produce(args.topic, value=b'{"not": "avro"}', on_delivery=lambda e, m: bad.append((m.partition(), m.offset())))
    if raw.flush(30) != 0:
        sys.exit("the raw producer did not deliver in 30 s")

    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=args.bootstrap, SCHEMA_MANAGER_REGISTRY_URL=args.registry)
    run = subprocess.run(
        [args.tail, "--from-beginning", "--with-meta", "--topic", args.topic],
        env=env, capture_output=True, text=True, timeout=120,
    )
    if run.returncode != 0:
        sys.exit(f"tail exited {run.returncode}:\n{run.stderr}")

    problems = []
    seen = set()
    for line in run.stdout.splitlines():
        record = json.loads(line)
        key = record.get("id") or record.get("shipment_id")
        want, subject = expected.get(key, (None, None))
        if want is None:
            problems.append(f"unexpected line: {line}")
            continue
        seen.add(key)
        meta = {k: record.pop(k) for k in ("subject", "schema_id", "partition", "offset")}
        if record != want:
            problems.append(f"{key}:\n  tail:     {json.dumps(record, sort_keys=True)}\n  expected: {json.dumps(want, sort_keys=True, default=str)}")
        if list(record) != list(want):
            problems.append(f"{key}: fields in the order {list(record)}, not the schema's {list(want)}")
        if meta["subject"] != subject:
            problems.append(f"{key}: subject {meta['subject']!r}, expected {subject!r}")
        if (meta["partition"], meta["offset"]) not in written:
            problems.append(f"{key}: partition/offset {meta} not one we wrote")
    missing = set(expected) - seen
    if missing:
        problems.append(f"{len(missing)} events not printed by tail: {sorted(missing)[:3]}...")
    partition, offset = bad[0]
    complaint = [l for l in run.stderr.splitlines() if f"partition {partition} offset {offset}" in l]
    if not complaint:
        problems.append(f"no stderr line about partition {partition} offset {offset}:\n{run.stderr}")

    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"tail decoded {len(seen)} events of 2 Confluent-serialized schemas; the bad message: {complaint[0]}")


if __name__ == "__main__":
    main()
