package backend

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/keyspec"
	"github.com/redverb/redverb/internal/resp"
)

// keyTable knows where each command's keys are, from the backend's own
// COMMAND reply (key specs), so that module and newer commands route to
// the right cluster node without a hand-kept list.
type keyTable struct {
	cmds atomic.Pointer[map[string]*keyspec.Command] // by lower-case name; subcommands as "name|sub"

	mu       sync.Mutex // held while loading
	loadedAt time.Time
}

func (b *Backend) CommandKeys() map[string]*keyspec.Command { return b.keys.load(b) }

// load returns the backend's commands by lower-case name (subcommands as
// "name|sub"), reading COMMAND on first use; nil while the backend is
// unreachable (asked again after a second).
func (t *keyTable) load(b *Backend) map[string]*keyspec.Command {
	if table := t.cmds.Load(); table != nil {
		return *table
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cmds.Load() == nil && time.Since(t.loadedAt) > time.Second {
		t.loadedAt = time.Now()
		if cmds := b.loadCommandTable(); cmds != nil {
			t.cmds.Store(&cmds)
		}
	}
	if table := t.cmds.Load(); table != nil {
		return *table
	}
	return nil
}

// loadCommandTable asks a master for COMMAND and reads the key specs.
func (b *Backend) loadCommandTable() map[string]*keyspec.Command {
	n, err := b.Master(-1)
	if err != nil {
		return nil
	}
	reply, err := n.OutOfBand(ConnKey{DB: 0, Proto: 2}, []byte("COMMAND"))
	if err != nil || resp.IsError(reply) {
		return nil
	}
	return keyspec.Parse(reply)
}
