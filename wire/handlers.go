package wire

import "github.com/twmb/franz-go/pkg/kmsg"

// handler serves one API key within a version range. It returns the response,
// or nil after calling rc.later (or for acks=0 produce, which has none).
type handler struct {
	min, max int16
	fn       func(rc *reqCtx, req kmsg.Request) kmsg.Response
}

// handlers is the table of supported APIs and versions: the versions current
// clients (Kafka 3.7+ level) negotiate without falling back, capped where a
// newer version needs a feature we do not have yet (e.g. Produce v13 and
// TxnOffsetCommit v6 name topics by ID).
var handlers map[int16]handler

func init() {
	handlers = map[int16]handler{
		kmsg.Produce.Int16():                    {3, 12, handleProduce},
		kmsg.Fetch.Int16():                      {4, 16, handleFetch},
		kmsg.ListOffsets.Int16():                {1, 8, handleListOffsets},
		kmsg.Metadata.Int16():                   {0, 12, handleMetadata},
		kmsg.ApiVersions.Int16():                {0, 3, handleApiVersions},
		kmsg.CreateTopics.Int16():               {2, 7, handleCreateTopics},
		kmsg.DeleteTopics.Int16():               {1, 6, handleDeleteTopics},
		kmsg.InitProducerID.Int16():             {0, 4, handleInitProducerID},
		kmsg.DescribeConfigs.Int16():            {0, 4, handleDescribeConfigs},
		kmsg.AlterConfigs.Int16():               {0, 2, handleAlterConfigs},
		kmsg.CreatePartitions.Int16():           {0, 3, handleCreatePartitions},
		kmsg.IncrementalAlterConfigs.Int16():    {0, 1, handleIncrementalAlterConfigs},
		kmsg.DescribeCluster.Int16():            {0, 1, handleDescribeCluster},
		kmsg.OffsetForLeaderEpoch.Int16():       {2, 4, handleOffsetForLeaderEpoch},
		kmsg.FindCoordinator.Int16():            {0, 4, handleFindCoordinator},
		kmsg.JoinGroup.Int16():                  {0, 9, handleJoinGroup},
		kmsg.SyncGroup.Int16():                  {0, 5, handleSyncGroup},
		kmsg.Heartbeat.Int16():                  {0, 4, handleHeartbeat},
		kmsg.LeaveGroup.Int16():                 {0, 5, handleLeaveGroup},
		kmsg.OffsetCommit.Int16():               {0, 8, handleOffsetCommit},
		kmsg.OffsetFetch.Int16():                {0, 8, handleOffsetFetch},
		kmsg.DescribeGroups.Int16():             {0, 5, handleDescribeGroups},
		kmsg.ListGroups.Int16():                 {0, 4, handleListGroups},
		kmsg.DeleteGroups.Int16():               {0, 2, handleDeleteGroups},
		kmsg.OffsetDelete.Int16():               {0, 0, handleOffsetDelete},
		kmsg.ElectLeaders.Int16():               {0, 2, handleElectLeaders},
		kmsg.AlterPartitionAssignments.Int16():  {0, 0, handleAlterPartitionReassignments},
		kmsg.ListPartitionReassignments.Int16(): {0, 0, handleListPartitionReassignments},
		kmsg.BrokerRegistration.Int16():         {0, 4, handleBrokerRegistration},
		kmsg.WriteTxnMarkers.Int16():            {0, 1, handleWriteTxnMarkers},
		kmsg.DescribeProducers.Int16():          {0, 0, handleDescribeProducers},
		kmsg.AddPartitionsToTxn.Int16():         {0, 5, handleAddPartitionsToTxn},
		kmsg.AddOffsetsToTxn.Int16():            {0, 3, handleAddOffsetsToTxn},
		kmsg.EndTxn.Int16():                     {0, 5, handleEndTxn},
		kmsg.TxnOffsetCommit.Int16():            {0, 5, handleTxnOffsetCommit},
		kmsg.DescribeTransactions.Int16():       {0, 0, handleDescribeTransactions},
		kmsg.ListTransactions.Int16():           {0, 2, handleListTransactions},
	}
}
