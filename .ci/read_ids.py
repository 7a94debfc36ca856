#!/usr/bin/env python3
"""Reads a metrics topic to its end with Confluent's Python client and AvroDeserializer, and
prints the `id` of every event, one per line (the reliability tests compare them with what
they published).

Usage: read_ids.py --bootstrap HOST:PORT --registry URL --topic T [--timeout SECONDS]
Exits 1 if a message does not deserialize or the topic is not read to its end in time.
"""

import argparse
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"read-ids-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(args.topic, timeout=30)
    partitions = sorted(metadata.topics[args.topic].partitions)
    consumer.assign([TopicPartition(args.topic, p, 0) for p in partitions])
    remaining = set(partitions)
    deadline = time.monotonic() + args.timeout
    # Bounded: by the deadline, and by a poll timeout per message.
    while remaining and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                remaining.discard(message.partition())
                continue
            # librdkafka retries transient errors (a connection lost) by itself.
            if message.error().fatal():
                sys.exit(f"read_ids: {message.error()}")
            print(f"read_ids: {message.error()} (retrying)", file=sys.stderr)
            continue
        context = SerializationContext(args.topic, MessageField.VALUE)
        event = deserialize(message.value(), context)
        print(event["id"])
    consumer.close()
    if remaining:
        sys.exit(f"read_ids: partitions {sorted(remaining)} not read to their end in {args.timeout}s")


if __name__ == "__main__":
    main()
