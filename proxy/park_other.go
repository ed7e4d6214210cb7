//go:build !linux

package proxy

import "go.uber.org/zap"

// parker holds no clients where there is no epoll: an idle client keeps
// its goroutine (see park_linux.go).
type parker struct{ log *zap.Logger }

func (pk *parker) park(*Session) bool  { return false }
func (pk *parker) holds(*Session) bool { return false }
func (pk *parker) wakeAll()            {}

func (pk *parker) hangUp(s *Session) {
	s.nc.Close()
}
