package proxy

import (
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// parker holds idle clients without a goroutine each. A goroutine per
// client costs its stack and its g even while the client says nothing,
// which is most of what an idle client costs; a parked client is its
// Session and its socket, watched by one epoll instance, and gets a
// goroutine again when it sends something (or is hung up on).
type parker struct {
	log    *zap.Logger
	once   sync.Once
	epfd   int
	err    error
	mu     sync.Mutex
	parked map[uint64]*Session // by session id, which is also the epoll event's data
}

// park hands s to the parker, and reports false if it cannot hold it (the
// caller then goes on serving s).
func (pk *parker) park(s *Session) bool {
	if s.in.raw == nil {
		return false
	}
	pk.once.Do(pk.start)
	if pk.err != nil {
		return false
	}
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if s.hungUp || s.srv.draining.Load() {
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	ev.Fd, ev.Pad = int32(uint32(s.id)), int32(uint32(s.id>>32))
	var err error
	if cerr := s.in.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(pk.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil || err != nil {
		return false
	}
	pk.parked[s.id] = s
	return true
}

// unpark takes s back from the parker, if it holds it, and reports whether
// it did; the caller then serves s. A socket is taken out of the epoll
// instance before it is closed.
func (pk *parker) unpark(s *Session) bool {
	if pk.parked[s.id] != s {
		return false
	}
	delete(pk.parked, s.id)
	s.in.raw.Control(func(fd uintptr) {
		syscall.EpollCtl(pk.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	return true
}

// holds reports whether s is parked.
func (pk *parker) holds(s *Session) bool {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	return pk.parked[s.id] == s
}

// hangUp closes s's connection; a parked s is given a goroutine, which
// finds the connection closed and ends the session.
func (pk *parker) hangUp(s *Session) {
	pk.mu.Lock()
	s.hungUp = true
	woken := pk.unpark(s)
	pk.mu.Unlock()
	s.nc.Close()
	if woken {
		go s.serve()
	}
}

// wakeAll gives every parked client its goroutine back (at shutdown).
func (pk *parker) wakeAll() {
	pk.mu.Lock()
	var woken []*Session
	for _, s := range pk.parked {
		if pk.unpark(s) {
			woken = append(woken, s)
		}
	}
	pk.mu.Unlock()
	for _, s := range woken {
		go s.serve()
	}
}

func (pk *parker) start() {
	pk.epfd, pk.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if pk.err != nil {
		return
	}
	pk.mu.Lock()
	pk.parked = map[uint64]*Session{}
	pk.mu.Unlock()
	go pk.watch()
}

// watch serves parked clients as they send something.
func (pk *parker) watch() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(pk.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			pk.log.Error("parked clients' epoll failed; they are served by goroutines again", zap.Error(err))
			pk.wakeAll()
			return
		}
		pk.mu.Lock()
		var ready []*Session
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if s := pk.parked[id]; s != nil && pk.unpark(s) {
				ready = append(ready, s)
			}
		}
		pk.mu.Unlock()
		for _, s := range ready {
			go s.serve()
		}
	}
}
