package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// ednsSize is the UDP buffer glibc advertises with options edns0.
const ednsSize = 1200

// exchanger sends single queries from one vantage namespace.
type exchanger struct {
	ns   *netns.NS
	edns bool
}

// query sends one question to server over proto and waits at most wait (and never past ctx) for the
// matching reply. It always returns the Query record; the reply is nil when none came.
func (x *exchanger) query(ctx context.Context, name string, qtype uint16, server string, proto Proto, wait time.Duration) (Query, *mdns.Msg) {
	q := Query{Name: name, Type: mdns.TypeToString[qtype], Server: server, Proto: proto, Answers: []string{}}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	if x.edns && proto == UDP {
		m.SetEdns0(ednsSize, false)
	}
	wire, err := m.Pack()
	if err != nil {
		q.Err, q.Detail = FailError, "probe/dns: pack query: "+err.Error()
		return q, nil
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var conn net.Conn
	err = x.ns.Do(func() error {
		d := net.Dialer{Deadline: deadline}
		var derr error
		conn, derr = d.DialContext(ctx, string(proto), server)
		return derr
	})
	if err != nil {
		q.Err, q.Detail = classify(ctx, err)
		return q, nil
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	udp, _ := conn.(*net.UDPConn)
	if udp != nil && !enableRxStamp(udp) {
		udp = nil
	}
	start := time.Now()
	reply, size, rx, err := roundTrip(conn, udp, wire, m)
	q.Latency = time.Since(start)
	if !rx.IsZero() && rx.After(start) && rx.Sub(start) < q.Latency {
		q.Latency = rx.Sub(start)
	}
	if err != nil {
		q.Err, q.Detail = classify(ctx, err)
		return q, nil
	}
	q.Size = size
	q.Rcode = mdns.RcodeToString[reply.Rcode]
	q.Truncated = reply.Truncated
	for _, rr := range reply.Answer {
		q.Answers = append(q.Answers, rr.String())
	}
	return q, reply
}

// roundTrip writes the query and reads replies until one matches its ID and question. When udp is
// set (a UDP socket with kernel receive stamps), rx is the kernel's receive time of the reply.
func roundTrip(conn net.Conn, udp *net.UDPConn, wire []byte, m *mdns.Msg) (reply *mdns.Msg, size int, rx time.Time, err error) {
	tcp := false
	if _, isUDP := conn.(*net.UDPConn); !isUDP {
		tcp = true
		buf := make([]byte, 2+len(wire))
		binary.BigEndian.PutUint16(buf, uint16(len(wire)))
		copy(buf[2:], wire)
		if _, err := conn.Write(buf); err != nil {
			return nil, 0, rx, err
		}
	} else if _, err := conn.Write(wire); err != nil {
		return nil, 0, rx, err
	}
	buf := make([]byte, mdns.MaxMsgSize)
	var oob []byte
	if udp != nil {
		oob = make([]byte, 128)
	}
	for {
		var n int
		switch {
		case tcp:
			var l [2]byte
			if _, err = io.ReadFull(conn, l[:]); err == nil {
				n = int(binary.BigEndian.Uint16(l[:]))
				_, err = io.ReadFull(conn, buf[:n])
			}
		case udp != nil:
			n, rx, err = readStamped(udp, buf, oob)
		default:
			n, err = conn.Read(buf)
		}
		if err != nil {
			return nil, 0, time.Time{}, err
		}
		r := new(mdns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			if tcp {
				return nil, 0, time.Time{}, errors.New("malformed reply: " + err.Error())
			}
			continue // a stray or spoofed datagram: keep waiting for ours
		}
		if r.Id != m.Id || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, m.Question[0].Name) ||
			r.Question[0].Qtype != m.Question[0].Qtype {
			continue
		}
		return r, n, rx, nil
	}
}

// classify maps a socket error to a Failure and the system's words for it.
func classify(ctx context.Context, err error) (Failure, string) {
	var detail string
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		detail = op.Err.Error()
	} else {
		detail = err.Error()
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled), ctx.Err() != nil:
		return FailTimeout, "no reply"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return FailRefused, detail
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL):
		return FailUnreachable, detail
	}
	return FailError, detail
}

// rdata is a record's data without its header ("10.0.0.1" for an A record).
func rdata(rr mdns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
