// Package faults holds the process-level fault scenarios of waitroom: a
// Room, its middleware and real stores (redis-server processes, DynamoDB
// Local, the shared test Redis behind internal/faultproxy) under crashes,
// restarts, a failover and network faults, checked for what the fail
// policy promises: nobody without an access token reaches the origin,
// issued tokens keep working, and admission resumes without restarting
// the Room. It has tests only; TESTING.md ("Faults") lists them and what
// they found.
package faults
