//go:build linux

package k8s

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// ServeRelay accepts connections on ln (a loopback listener in this process's namespace) and
// splices each to target, dialled inside the network namespace at netnsPath. It is how kubectl and
// netdoctor on the host reach the lab's API server without any address or route in the root
// namespace. It returns when ctx ends, after closing every connection.
func ServeRelay(ctx context.Context, ln net.Listener, netnsPath, target string) error {
	dial := DialIn(netnsPath)
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var mu sync.Mutex
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	go func() {
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		in, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			out, err := dial(dctx, "tcp", target)
			cancel()
			if err != nil {
				in.Close()
				return
			}
			track(in, true)
			track(out, true)
			defer func() { track(in, false); track(out, false); in.Close(); out.Close() }()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
