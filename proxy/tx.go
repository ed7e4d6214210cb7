package proxy

import (
	"github.com/redverb/redverb/internal/resp"
)

// Transactions on a cluster. A client that thinks it talks to one Redis
// runs MULTI before naming any key, so the transaction starts on any master
// and moves, once, to the master of its first key: what was queued so far
// (keyless commands) is discarded there and queued again on the new one.
// WATCH names its keys, so a WATCH pins at once. A later command whose key
// lives on another server gets Redis Cluster's -CROSSSLOT, and the backend
// aborts the transaction at EXEC as it would for any refused command.

var multiCmd = resp.AppendCommand(nil, []byte("MULTI"))
