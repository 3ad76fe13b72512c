// Package coordinator is the group coordinator of Kafka's classic group
// protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, offsets, group admin),
// as a deterministic state machine: no goroutines, no I/O, no clock. Time
// comes in as arguments, persistence goes out through a CommitFunc, and
// parked requests are answered through callbacks.
//
// One Coordinator serves the groups of one __consumer_offsets partition
// (PartitionFor maps a group id to its partition). The broker runs one per
// partition it leads, inside an actor, and drives it like this:
//
//   - On becoming leader: NewCoordinator, Replay every record of the
//     partition in log order, then CompleteLoad(now). Requests before that
//     are answered COORDINATOR_LOAD_IN_PROGRESS.
//   - Per request: JoinGroup, SyncGroup, OffsetCommit, DeleteGroups and
//     OffsetDelete answer through respond (maybe before returning, maybe
//     much later); Heartbeat, LeaveGroup, OffsetFetch/FetchOffsets,
//     DescribeGroups/DescribeGroup and ListGroups return their response.
//     Multi-group requests that span partitions are split by the caller
//     (FetchOffsets, DescribeGroup) and merged (ListGroups).
//   - Timers: after handling any message, schedule a Tick at NextDeadline;
//     Tick(now) fires session timeouts, rebalance and initial delays and the
//     offsets retention check.
//   - Writes: the CommitFunc appends each batch to the partition and calls
//     done with the outcome, from the actor's goroutine (see CommitFunc).
//   - On losing leadership or stopping: Unload. Every parked request and
//     every response waiting for a write is answered NOT_COORDINATOR.
//
// All methods and done callbacks must run on one goroutine; respond
// callbacks must not call back into the Coordinator. Each respond callback is
// called exactly once.
package coordinator
