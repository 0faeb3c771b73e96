// Package dynamostore keeps waitroom's shared state in one DynamoDB table:
// zones, partitioned queues, leaky buckets and change feeds, with
// conditional writes and TransactWriteItems. Any number of instances share
// a table; finished zones delete themselves through DynamoDB's TTL.
package dynamostore
