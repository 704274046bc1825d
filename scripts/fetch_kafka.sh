#!/usr/bin/env bash
# Put the Apache Kafka broker and its admin tools (jars from Maven Central) into a cache outside
# the repo, so that the Kafka integration tests can start a real KRaft broker on Java 17.
#
#   bash scripts/fetch_kafka.sh            # fetch once; later runs return at once
#   KAFKA_VERSION=4.0.0 bash scripts/fetch_kafka.sh
#
# Result: ${STREAMGUARD_CACHE:-$HOME/.cache/streamguard}/kafka-<version>/libs/*.jar, plus a
# marker file .complete written last, so an interrupted download is redone, never half-used.
# streamguard.servers._kafka finds the jars at the same place (same variables).
set -euo pipefail

version="${KAFKA_VERSION:-4.1.1}"
cache="${STREAMGUARD_CACHE:-$HOME/.cache/streamguard}"
home="$cache/kafka-$version"
libs="$home/libs"

if [ -f "$home/.complete" ]; then
    exit 0
fi

for tool in mvn java; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "fetch_kafka.sh: '$tool' not found; install Java 17 and Maven (apt-get install -y openjdk-17-jdk-headless maven)" >&2
        exit 1
    fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>streamguard.local</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$version</version>
    </dependency>
    <!-- routes the broker's slf4j logging to log4j2, so its server.log says why it failed -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
EOF

echo "fetch_kafka.sh: fetching Apache Kafka $version jars into $libs"
rm -rf "$libs"
mkdir -p "$libs"
(cd "$work" && mvn -q -B dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs")
touch "$home/.complete"
echo "fetch_kafka.sh: $(ls "$libs" | wc -l) jars in $libs"
