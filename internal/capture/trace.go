package capture

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Anomaly kinds, stable strings used in JSON.
const (
	// AnomalyEncap: the packet was VXLAN-encapsulated; Detail names the outer source and the points.
	AnomalyEncap = "encap-src"
	// AnomalyTTL: the (inner) TTL changed between two points.
	AnomalyTTL = "ttl"
	// AnomalyDNAT: the destination address or port was rewritten between two points.
	AnomalyDNAT = "dnat"
	// AnomalySNAT: the source address or port was rewritten between two points.
	AnomalySNAT = "snat"
	// AnomalyTooBig: the packet seen at a point is larger than the MTU of the link after it.
	AnomalyTooBig = "too-big"
)

// Trace is the result of a multi-point capture: every packet followed across the points.
type Trace struct {
	// Points are the capture points, in the order given, with what each captured.
	Points []PointResult `json:"points"`
	// Packets are the packets seen, each with every point that saw it, in order of first sighting.
	Packets []TracedPacket `json:"packets"`
	// Unidentified counts frames that are not IP (ARP...) and are not followed.
	Unidentified int `json:"unidentified"`
	// Start and End bound the capture.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// ProbeError is the error the probe run during the capture returned, if any.
	ProbeError string `json:"probe_error,omitempty"`
}

// PointResult is what one point captured.
type PointResult struct {
	Label   string `json:"label"`              // Point.Label (or "netns:iface")
	Netns   string `json:"netns"`              // Point.NetnsName
	Iface   string `json:"iface"`              // Point.Iface
	NextMTU int    `json:"next_mtu,omitempty"` // Point.NextMTU
	// Captured counts packets kept at this point (after the user-space part of the filter).
	Captured int `json:"captured"`
	// Overflow counts packets past MultiOptions.MaxPackets, not kept.
	Overflow int `json:"overflow,omitempty"`
	// Stats are the kernel's counters (the kernel filter also passes all VXLAN traffic).
	Stats Stats `json:"kernel"`
	// OuterSources lists the VXLAN outer source addresses seen at this point.
	OuterSources []string `json:"outer_sources,omitempty"`
	// Error says why the point stopped early (interface or namespace vanished), if it did.
	Error string `json:"error,omitempty"`
}

// Sighting is one packet seen at one point.
type Sighting struct {
	// Point is the label of the point that saw the packet.
	Point string `json:"point"`
	// Time is the kernel's timestamp (one clock for all namespaces of the host).
	Time time.Time `json:"time"`
	// Offset is the time since the packet's first sighting.
	Offset time.Duration `json:"offset_ns"`
	// Dir is "In" or "Out" (or B/M/P) as the kernel saw the packet on the interface.
	Dir string `json:"dir"`
	// IP is the (inner) IP packet as seen here: addresses, TTL, length, transport header.
	IP IPInfo `json:"ip"`
	// Encap is the VXLAN encapsulation around it here, if any.
	Encap *Encap `json:"encap,omitempty"`
	// Size is the size of the outermost IP packet here (the one the link must carry).
	Size int `json:"size"`
	// Summary is the tcpdump-style line of the packet here.
	Summary string `json:"summary"`

	weak string // identity(IP); empty for frames that are not followed
}

// TracedPacket is one packet followed across points.
type TracedPacket struct {
	// ID numbers the packets in order of first sighting, from 1.
	ID int `json:"id"`
	// Summary describes the packet as first seen.
	Summary string `json:"summary"`
	// Seen lists the sightings in time order.
	Seen []Sighting `json:"seen"`
	// LastPoint is the point of the last sighting: where the packet was last seen.
	LastPoint string `json:"last_point"`
	// Anomalies found along the way.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
}

// Anomaly is something that changed about a packet on its way, or does not fit the path.
type Anomaly struct {
	// Kind is one of the Anomaly* constants.
	Kind string `json:"kind"`
	// From and At are the points between which the change happened (From empty for a property
	// of one point).
	From string `json:"from,omitempty"`
	At   string `json:"at"`
	// Before and After are the values on either side ("10.96.0.10:53" → "10.244.1.5:53",
	// "64" → "63"); for encap-src Before is the outer source and After the VNI.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Detail is the anomaly in words.
	Detail string `json:"detail"`
}

func newSighting(point string, p *Packet, f *Frame) Sighting {
	s := Sighting{Point: point, Time: p.Timestamp, Dir: p.Dir.String(), Summary: Summarize(f)}
	if f.IP == nil {
		return s
	}
	s.IP = *f.IP
	s.IP.Quoted = nil
	s.Encap = f.Encap
	s.Size = f.IP.Len
	if f.Outer != nil {
		s.Size = f.Outer.Len
	}
	s.weak = identity(f.IP)
	return s
}

// identity is a packet's identity that survives forwarding, VXLAN encapsulation and NAT: the
// protocol, the IP ID, the transport identity (TCP seq/ack/flags, ICMP type/id/seq, lengths)
// and a hash of the first bytes of the payload. Addresses and ports are left out on purpose.
func identity(ip *IPInfo) string {
	h := fnv.New64a()
	pl := ip.Payload
	if len(pl) > 64 {
		pl = pl[:64]
	}
	h.Write(pl)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	base := fmt.Sprintf("v%d p%d id%d f%d/%t n%d h%x", ip.Version, ip.Proto, ip.ID, ip.FragOff, ip.MoreFrag, ip.PayloadLen, b)
	switch layers.IPProtocol(ip.Proto) {
	case layers.IPProtocolTCP:
		return base + fmt.Sprintf(" s%d a%d %s", ip.Seq, ip.Ack, ip.Flags)
	case layers.IPProtocolICMPv4, layers.IPProtocolICMPv6:
		return base + fmt.Sprintf(" t%d/%d i%d q%d", ip.ICMPType, ip.ICMPCode, ip.ICMPID, ip.ICMPSeq)
	}
	return base
}

// BuildTrace groups sightings from several points into packets. Sightings with the same identity
// are the same packet, unless that packet was already seen at the same point (then it is a
// retransmission: a new packet). Points is used for the order and MTUs of the points.
func BuildTrace(points []PointResult, sightings []Sighting) *Trace {
	t := &Trace{Points: points}
	idx := map[string]int{}
	for i, p := range points {
		idx[p.Label] = i
	}
	sorted := make([]Sighting, 0, len(sightings))
	for _, s := range sightings {
		if s.weak == "" {
			t.Unidentified++
			continue
		}
		sorted = append(sorted, s)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.Before(sorted[j].Time)
		}
		return idx[sorted[i].Point] < idx[sorted[j].Point]
	})
	byKey := map[string][]int{} // identity → packet indexes, oldest first
	for _, s := range sorted {
		pi := -1
		cands := byKey[s.weak]
		for k := len(cands) - 1; k >= 0; k-- {
			if !seenAt(&t.Packets[cands[k]], s.Point) {
				pi = cands[k]
				break
			}
		}
		if pi < 0 {
			t.Packets = append(t.Packets, TracedPacket{ID: len(t.Packets) + 1, Summary: s.Summary})
			pi = len(t.Packets) - 1
			byKey[s.weak] = append(byKey[s.weak], pi)
		}
		pk := &t.Packets[pi]
		s.Offset = s.Time.Sub(firstTime(pk, s.Time))
		pk.Seen = append(pk.Seen, s)
	}
	mtu := map[string]int{}
	for _, p := range points {
		mtu[p.Label] = p.NextMTU
	}
	for i := range t.Packets {
		pk := &t.Packets[i]
		pk.LastPoint = pk.Seen[len(pk.Seen)-1].Point
		pk.Anomalies = anomalies(pk.Seen, mtu)
	}
	return t
}

func seenAt(p *TracedPacket, point string) bool {
	for _, s := range p.Seen {
		if s.Point == point {
			return true
		}
	}
	return false
}

func firstTime(p *TracedPacket, def time.Time) time.Time {
	if len(p.Seen) == 0 {
		return def
	}
	return p.Seen[0].Time
}

func endpoint(a netip.Addr, port uint16, proto uint8) string {
	switch layers.IPProtocol(proto) {
	case layers.IPProtocolTCP, layers.IPProtocolUDP:
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}

// anomalies compares consecutive sightings of one packet.
func anomalies(seen []Sighting, mtu map[string]int) []Anomaly {
	var out []Anomaly
	encap := map[string][]string{} // outer src → points
	var order []string
	for i, s := range seen {
		if s.Encap != nil {
			k := s.Encap.OuterSrc.String() + " vni " + strconv.Itoa(int(s.Encap.VNI))
			if _, ok := encap[k]; !ok {
				order = append(order, k)
			}
			encap[k] = append(encap[k], s.Point)
		}
		if m := mtu[s.Point]; m > 0 && s.Size > m {
			df := ""
			if s.Encap == nil && s.IP.DF {
				df = " and may not be fragmented"
			}
			out = append(out, Anomaly{Kind: AnomalyTooBig, At: s.Point, Before: strconv.Itoa(s.Size), After: strconv.Itoa(m),
				Detail: fmt.Sprintf("%d-byte packet at %s is larger than the next link's MTU %d%s", s.Size, s.Point, m, df)})
		}
		if i == 0 {
			continue
		}
		p := seen[i-1]
		if p.IP.TTL != s.IP.TTL {
			out = append(out, Anomaly{Kind: AnomalyTTL, From: p.Point, At: s.Point,
				Before: strconv.Itoa(int(p.IP.TTL)), After: strconv.Itoa(int(s.IP.TTL)),
				Detail: fmt.Sprintf("TTL %d → %d between %s and %s", p.IP.TTL, s.IP.TTL, p.Point, s.Point)})
		}
		pd, sd := endpoint(p.IP.Dst, p.IP.Dport, p.IP.Proto), endpoint(s.IP.Dst, s.IP.Dport, s.IP.Proto)
		if pd != sd {
			out = append(out, Anomaly{Kind: AnomalyDNAT, From: p.Point, At: s.Point, Before: pd, After: sd,
				Detail: fmt.Sprintf("destination %s → %s between %s and %s", pd, sd, p.Point, s.Point)})
		}
		ps, ss := endpoint(p.IP.Src, p.IP.Sport, p.IP.Proto), endpoint(s.IP.Src, s.IP.Sport, s.IP.Proto)
		if ps != ss {
			out = append(out, Anomaly{Kind: AnomalySNAT, From: p.Point, At: s.Point, Before: ps, After: ss,
				Detail: fmt.Sprintf("source %s → %s between %s and %s", ps, ss, p.Point, s.Point)})
		}
	}
	for _, k := range order {
		pts := encap[k]
		src, vni, _ := strings.Cut(k, " vni ")
		out = append(out, Anomaly{Kind: AnomalyEncap, At: pts[0], Before: src, After: vni,
			Detail: fmt.Sprintf("VXLAN outer source %s (vni %s) seen at %s", src, vni, strings.Join(pts, ", "))})
	}
	return out
}
