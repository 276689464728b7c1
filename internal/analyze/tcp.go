package analyze

import (
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// maxPending bounds the unacknowledged segments remembered per direction.
const maxPending = 20000

type connKey struct {
	lo, hi netip.AddrPort
	vni    int64 // -1 when not tunnelled
}

type connState struct {
	c              *Conn
	key            connKey
	d              [2]*dirState // 0: client→server, 1: server→client
	clientISN      uint32
	haveISN        bool
	first          time.Time
	firstRTT       time.Duration
	haveRTT        bool
	synAckSeen     bool
	synAfterSynAck int
	established    bool
	finSeen        bool
	closed         bool
	fragNeeded     []int // MTUs announced by ICMP frag-needed quoting this connection
}

type dirState struct {
	f           *Flow
	from        Endpoint
	mss         int // MSS this side announced in its SYN
	haveNext    bool
	nextSeq     uint32
	nextTime    time.Time
	haveAck     bool
	lastAck     uint32
	lastAckTime time.Time
	lastWin     uint16
	dupAcks     int
	pending     []seg
	sizes       map[int]*SizeStat
	firstLoss   time.Time
	// peerAfterLoss: the other side sent something after this side's first retransmission.
	peerAfterLoss bool
	// lateDelivered is the largest payload first sent after the first loss that was delivered.
	lateDelivered int
}

type seg struct {
	seq, end   uint32
	payload    int
	pktLen     int
	ts         time.Time
	retrans    bool
	superseded bool
	gso        bool
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

func tunnelVNI(t *Tunnel) int64 {
	if t == nil {
		return -1
	}
	return int64(t.VNI)
}

func (a *Analyzer) addTCP(p *pkt) {
	t := p.tcp
	src := netip.AddrPortFrom(p.src, uint16(t.SrcPort))
	dst := netip.AddrPortFrom(p.dst, uint16(t.DstPort))
	k := connKey{lo: src, hi: dst, vni: tunnelVNI(p.tunnel)}
	if src.Compare(dst) > 0 {
		k.lo, k.hi = dst, src
	}
	cs := a.conns[k]
	synOnly := t.SYN && !t.ACK
	if cs != nil && synOnly && src == cs.c.Client && (!cs.haveISN || t.Seq != cs.clientISN) &&
		(cs.closed || cs.established || cs.finSeen) {
		cs = nil // the 4-tuple is reused by a new connection
	}
	if cs == nil {
		if len(a.order) >= a.opts.MaxConns {
			a.overConns++
			return
		}
		client, server := src, dst
		switch {
		case synOnly:
		case t.SYN && t.ACK:
			client, server = dst, src
		case dst.Port() > src.Port():
			client, server = dst, src
		}
		c := &Conn{Client: client, Server: server, First: p.ts}
		if p.tunnel != nil {
			c.Tunnel = p.tunnel.String()
		}
		cs = &connState{c: c, key: k, first: p.ts}
		cs.d[0] = &dirState{f: &c.ToServer, from: client, sizes: map[int]*SizeStat{}}
		cs.d[1] = &dirState{f: &c.ToClient, from: server, sizes: map[int]*SizeStat{}}
		a.conns[k] = cs
		a.order = append(a.order, cs)
	}
	c := cs.c
	c.Last = p.ts
	di := 0
	if src != c.Client {
		di = 1
	}
	d, rev := cs.d[di], cs.d[1-di]
	d.f.Packets++
	if !rev.firstLoss.IsZero() && p.ts.After(rev.firstLoss) {
		rev.peerAfterLoss = true
	}
	seglen := p.l4Len - int(t.DataOffset)*4
	if seglen < 0 {
		seglen = 0
	}

	// Handshake and flags.
	switch {
	case t.SYN && !t.ACK:
		c.SYNs++
		if !cs.haveISN {
			cs.clientISN, cs.haveISN = t.Seq, true
		}
		if cs.synAckSeen {
			cs.synAfterSynAck++
		}
		if m := mssOption(t); m > 0 {
			d.mss = m
			if di == 0 {
				c.ClientMSS = m
			} else {
				c.ServerMSS = m
			}
		}
	case t.SYN && t.ACK:
		c.SYNACKs++
		cs.synAckSeen = true
		if m := mssOption(t); m > 0 {
			d.mss = m
			if di == 1 {
				c.ServerMSS = m
			} else {
				c.ClientMSS = m
			}
		}
	}
	if t.ACK && !t.SYN && !t.RST && (cs.synAckSeen || c.SYNs == 0) {
		if !cs.established && cs.synAckSeen && !cs.haveRTT {
			cs.firstRTT, cs.haveRTT = p.ts.Sub(cs.first), true
		}
		cs.established = true
	}
	if t.RST {
		state := "open"
		switch {
		case !cs.established && di == 1:
			state = "syn"
		case !cs.established:
			state = "opening"
		case cs.finSeen:
			state = "closing"
		}
		c.Resets = append(c.Resets, Reset{From: src, Time: p.ts, State: state, Packet: p.idx})
		cs.closed = true
	}
	if t.FIN {
		d.f.FIN = true
		cs.finSeen = true
		if cs.d[0].f.FIN && cs.d[1].f.FIN {
			cs.closed = true
		}
	}

	// Sequence analysis, the way Wireshark's tcp.analysis does it.
	retrans := false
	if seglen > 0 || t.SYN || t.FIN {
		keepalive := seglen <= 1 && !t.SYN && !t.FIN && d.haveNext && t.Seq == d.nextSeq-1
		if d.haveNext && seqLT(t.Seq, d.nextSeq) && !keepalive && !t.RST {
			retrans = a.isRetransmission(cs, d, rev, p, seglen)
		}
		nxt := t.Seq + uint32(seglen)
		if t.SYN || t.FIN {
			nxt++
		}
		if !d.haveNext || seqGT(nxt, d.nextSeq) {
			d.nextSeq, d.nextTime, d.haveNext = nxt, p.ts, true
		}
	}
	if retrans {
		d.f.Retransmissions++
		if d.firstLoss.IsZero() {
			d.firstLoss = p.ts
		}
	}
	if seglen > 0 {
		a.addSegment(d, rev, p, t.Seq, seglen, retrans)
	}
	if t.ACK {
		a.ackFrom(d, rev, p, t, seglen)
	}
}

// isRetransmission classifies a segment that does not advance the sequence number: a fast or plain
// retransmission (true), or out of order / spurious (false), with Wireshark's rules.
func (a *Analyzer) isRetransmission(cs *connState, d, rev *dirState, p *pkt, seglen int) bool {
	t := p.tcp
	if rev.dupAcks >= 2 && rev.haveAck && rev.lastAck == t.Seq && p.ts.Sub(rev.lastAckTime) < 20*time.Millisecond {
		return true // fast retransmission
	}
	thres := 3 * time.Millisecond
	if cs.haveRTT && cs.firstRTT > 0 {
		thres = cs.firstRTT
	}
	if seglen > 0 && p.ts.Sub(d.nextTime) < thres && d.nextSeq != t.Seq+uint32(seglen) {
		return false // out of order
	}
	return true
}

func (a *Analyzer) addSegment(d, rev *dirState, p *pkt, seq uint32, seglen int, retrans bool) {
	f := d.f
	f.DataSegments++
	f.Bytes += int64(seglen)
	st := d.sizes[seglen]
	if st == nil {
		if len(d.sizes) >= 4096 {
			return
		}
		st = &SizeStat{Payload: seglen, Packet: p.ipLen}
		d.sizes[seglen] = st
	}
	st.Sent++
	if retrans {
		st.Retrans++
	}
	s := seg{seq: seq, end: seq + uint32(seglen), payload: seglen, pktLen: p.ipLen, ts: p.ts, retrans: retrans}
	if rev.mss > 0 && seglen > rev.mss {
		s.gso = true
		a.gsoSeen = true
	}
	for i := range d.pending {
		o := &d.pending[i]
		if seqLT(o.seq, s.end) && seqLT(s.seq, o.end) {
			o.superseded = true
		}
	}
	if len(d.pending) >= maxPending {
		d.pending = append(d.pending[:0], d.pending[len(d.pending)/2:]...)
	}
	d.pending = append(d.pending, s)
}

// ackFrom handles the acknowledgement (and SACK blocks) that side d sends for rev's data.
func (a *Analyzer) ackFrom(d, rev *dirState, p *pkt, t *layers.TCP, seglen int) {
	ack := t.Ack
	pure := seglen == 0 && !t.SYN && !t.FIN && !t.RST
	switch {
	case pure && d.haveAck && ack == d.lastAck && t.Window == d.lastWin:
		d.dupAcks++
	case !d.haveAck || ack != d.lastAck:
		d.dupAcks = 0
	}
	if !d.haveAck || seqGT(ack, d.lastAck) || ack == d.lastAck {
		d.lastAck, d.lastAckTime, d.haveAck = ack, p.ts, true
	}
	d.lastWin = t.Window
	if t.RST {
		return
	}
	var blocks [][2]uint32
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindSACK {
			for b := o.OptionData; len(b) >= 8; b = b[8:] {
				blocks = append(blocks, [2]uint32{be32(b), be32(b[4:])})
			}
		}
	}
	keep := rev.pending[:0]
	for _, s := range rev.pending {
		delivered := seqLE(s.end, ack)
		for _, b := range blocks {
			if seqLE(b[0], s.seq) && seqLE(s.end, b[1]) {
				delivered = true
			}
		}
		if !delivered {
			keep = append(keep, s)
			continue
		}
		rev.delivered(s)
	}
	rev.pending = keep
}

func (d *dirState) delivered(s seg) {
	if s.superseded {
		return
	}
	if st := d.sizes[s.payload]; st != nil {
		st.Acked++
	}
	if s.gso {
		return
	}
	if s.payload > d.f.LargestAcked {
		d.f.LargestAcked, d.f.LargestAckedPacket = s.payload, s.pktLen
	}
	if !d.firstLoss.IsZero() && s.ts.After(d.firstLoss) && s.payload > d.lateDelivered {
		d.lateDelivered = s.payload
	}
}

// dropped marks the segment that src sent at seq as not delivered: an ICMP error quoted it.
func (cs *connState) dropped(src Endpoint, seq uint32) {
	for _, d := range cs.d {
		if d.from != src {
			continue
		}
		for i := range d.pending {
			if d.pending[i].seq == seq {
				d.pending[i].superseded = true
			}
		}
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func mssOption(t *layers.TCP) int {
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
			return int(o.OptionData[0])<<8 | int(o.OptionData[1])
		}
	}
	return 0
}

// finishConn fills the derived fields of a connection at the end of the capture.
func (cs *connState) finish() {
	c := cs.c
	switch {
	case c.SYNs == 0 && c.SYNACKs == 0:
		c.Handshake = HandshakeNotSeen
	case cs.established:
		c.Handshake = HandshakeCompleted
	case len(c.Resets) > 0 && c.Resets[0].State == "syn":
		c.Handshake = HandshakeRefused
	case c.ICMPError != nil && !cs.synAckSeen:
		c.Handshake = HandshakeUnreachable
	case cs.synAckSeen && (cs.synAfterSynAck > 0 || c.SYNACKs > 1):
		c.Handshake = HandshakeSYNACKLost
	case cs.synAckSeen:
		c.Handshake = HandshakeIncomplete
	default:
		c.Handshake = HandshakeUnanswered
	}
	for _, d := range cs.d {
		f := d.f
		f.BySize = f.BySize[:0]
		for _, st := range d.sizes {
			f.BySize = append(f.BySize, *st)
		}
		sort.Slice(f.BySize, func(i, j int) bool { return f.BySize[i].Payload > f.BySize[j].Payload })
		lost := map[int]*SizeStat{}
		f.Unacked = 0
		for _, s := range d.pending {
			if !s.superseded {
				f.Unacked += int64(s.payload)
			}
			if !s.retrans && !s.superseded {
				continue
			}
			st := lost[s.payload]
			if st == nil {
				st = &SizeStat{Payload: s.payload, Packet: s.pktLen}
				lost[s.payload] = st
			}
			st.Sent++
			if s.retrans {
				st.Retrans++
			}
		}
		f.NeverAcked = f.NeverAcked[:0]
		for _, st := range lost {
			f.NeverAcked = append(f.NeverAcked, *st)
		}
		sort.Slice(f.NeverAcked, func(i, j int) bool { return f.NeverAcked[i].Payload < f.NeverAcked[j].Payload })
	}
}
