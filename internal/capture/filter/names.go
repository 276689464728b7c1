package filter

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Name tables. Like libpcap, port and protocol names come from the system's /etc/services and
// /etc/protocols (so `port http` means what tcpdump on the same machine means); when a file is
// missing a small built-in table stands in.

var etherProtoNames = map[string]uint32{
	"ip": 0x0800, "ip6": 0x86dd, "arp": 0x0806, "rarp": 0x8035, "atalk": 0x809b, "aarp": 0x80f3,
	"decnet": 0x6003, "sca": 0x6007, "lat": 0x6004, "mopdl": 0x6001, "moprc": 0x6002,
	"loopback": 0x9000,
}

var builtinProtocols = map[string]uint32{
	"ip": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
	"ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58,
	"ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "ipip": 94, "pim": 103, "vrrp": 112,
	"l2tp": 115, "sctp": 132, "udplite": 136,
}

// servicePorts maps a name to its tcp and udp port (-1 when absent).
type servicePorts struct{ tcp, udp int }

var builtinServices = map[string]servicePorts{
	"ssh": {22, -1}, "smtp": {25, -1}, "domain": {53, 53}, "http": {80, -1}, "https": {443, 443},
	"ntp": {-1, 123}, "bootps": {-1, 67}, "bootpc": {-1, 68}, "syslog": {-1, 514},
	"snmp": {161, 161}, "ldap": {389, 389}, "kerberos": {88, 88},
}

var (
	tablesOnce sync.Once
	services   map[string]servicePorts
	protocols  map[string]uint32
)

func loadTables() {
	tablesOnce.Do(func() {
		services = readServices("/etc/services")
		if services == nil {
			services = builtinServices
		}
		protocols = readProtocols("/etc/protocols")
		if protocols == nil {
			protocols = builtinProtocols
		}
	})
}

func readServices(path string) map[string]servicePorts {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]servicePorts{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(fs[1], "/")
		port, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		for _, name := range append([]string{fs[0]}, fs[2:]...) {
			sp, seen := m[name]
			if !seen {
				sp = servicePorts{-1, -1}
			}
			switch {
			case proto == "tcp" && sp.tcp < 0:
				sp.tcp = port
			case proto == "udp" && sp.udp < 0:
				sp.udp = port
			}
			m[name] = sp
		}
	}
	return m
}

func readProtocols(path string) map[string]uint32 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		n, err := strconv.Atoi(fs[1])
		if err != nil {
			continue
		}
		for _, name := range append([]string{fs[0]}, fs[2:]...) {
			if _, seen := m[name]; !seen {
				m[name] = uint32(n)
			}
		}
	}
	return m
}

// lookupPort is pcap_nametoport: a number, or a service name with the IP protocol it is defined
// for (protoUndef when tcp and udp agree).
func lookupPort(name string) (port int, proto int, ok bool) {
	loadTables()
	sp, found := services[name]
	if !found {
		return 0, 0, false
	}
	if sp.tcp >= 0 {
		if sp.udp == sp.tcp {
			return sp.tcp, protoUndef, true
		}
		return sp.tcp, 6, true
	}
	if sp.udp >= 0 {
		return sp.udp, 17, true
	}
	return 0, 0, false
}

// genScode is a name with qualifier q: a port or port range, or a protocol name.
func (ps *parser) genScode(t token, q qual) node {
	name := t.s
	switch q.addr {
	case aDefault, aHost, aNet, aGateway:
		if q.addr == aUndef {
			ps.errAt(t, "syntax error")
		}
		ps.errAt(t, "unknown host '%s' (names are not resolved: use an address)", name)
	case aPort:
		want := ps.portProto(t, q.proto)
		port, real, ok := lookupPort(name)
		if !ok {
			ps.errAt(t, "unknown port '%s'", name)
		}
		real = ps.overrideProto(t, name, want, real)
		return ps.genPorts(t, uint32(port), uint32(port), real, q.dir, false)
	case aPortrange:
		want := ps.portProto(t, q.proto)
		a, b, found := strings.Cut(name, "-")
		if !found {
			ps.errAt(t, "unknown port in range '%s'", name)
		}
		lo, p1 := ps.rangeEnd(t, a)
		hi, p2 := ps.rangeEnd(t, b)
		real := p1
		if p1 != p2 {
			real = protoUndef
		}
		real = ps.overrideProto(t, name, want, real)
		return ps.genPorts(t, uint32(lo), uint32(hi), real, q.dir, true)
	case aProto:
		if q.dir != dDefault {
			ps.errAt(t, "direction applied to 'proto'")
		}
		switch q.proto {
		case qLink:
			v, ok := etherProtoNames[name]
			if !ok {
				ps.errAt(t, "unknown ether proto '%s'", name)
			}
			return ps.genProto(t, v, q.proto)
		case qDefault, qIP, qIP6:
			loadTables()
			v, ok := protocols[name]
			if !ok {
				ps.errAt(t, "unknown ip proto '%s'", name)
			}
			return ps.genProto(t, v, q.proto)
		}
		return ps.genProto(t, 0, q.proto)
	}
	ps.errAt(t, "syntax error")
	return nil
}

func (ps *parser) rangeEnd(t token, s string) (int, int) {
	if v, ok := parseNum(s); ok {
		if v > 65535 {
			ps.errAt(t, "illegal port number %d > 65535", v)
		}
		return int(v), protoUndef
	}
	port, proto, ok := lookupPort(s)
	if !ok {
		ps.errAt(t, "unknown port in range '%s'", s)
	}
	return port, proto
}

// overrideProto applies `tcp port NAME` / `udp port NAME` to a name's own protocol.
func (ps *parser) overrideProto(t token, name string, want, real int) int {
	if want == protoUndef {
		return real
	}
	if real != protoUndef && real != want {
		ps.errAt(t, "port '%s' is %s", name, map[int]string{6: "tcp", 17: "udp", 132: "sctp"}[real])
	}
	return want
}
