"""Real servers (Redis, Apache Kafka, Tansu) started on free loopback ports for tests."""
