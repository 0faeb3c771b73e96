// Package redisstore keeps waitroom's shared state in Redis or Redis
// Cluster, so that any number of instances share one waiting room. Every
// Store operation is one Lua script (one round trip, atomic per zone), and
// each zone's change feed is a Redis Stream written by the same scripts.
package redisstore
