// Package integration holds end-to-end tests: real brokers, in-process and
// as separate processes, driven by stock Kafka clients (franz-go kgo/kadm,
// kcat when installed).
package integration
