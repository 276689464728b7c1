package nodestate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// maxHostFile bounds every host file read (CNI configs and IPAM files are a few KiB).
const maxHostFile = 1 << 20

func readHostFiles(s *Snapshot, root string, errf func(string, ...any)) {
	if root == "" {
		root = "/"
	}
	cni, err := ReadCNI(root)
	if err != nil {
		errf("cni: %v", err)
	}
	s.CNI = cni
	if f, err := ReadFlannelSubnet(root); err != nil {
		errf("flannel: %v", err)
	} else {
		s.Flannel = f
	}
	if k, err := ReadKubeletConfig(root); err != nil {
		errf("kubelet: %v", err)
	} else {
		s.Kubelet = k
	}
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitReader{f: f, n: maxHostFile + 1}); err != nil {
		return nil, err
	}
	if buf.Len() > maxHostFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxHostFile)
	}
	return buf.Bytes(), nil
}

type limitReader struct {
	f *os.File
	n int
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("limit reached")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= n
	return n, err
}

// ReadCNI reads the CNI config directory (root/etc/cni/net.d) and the host-local IPAM state
// (root/var/lib/cni/networks). A missing directory gives an empty state, not an error.
func ReadCNI(root string) (*CNIState, error) {
	st := &CNIState{Dir: filepath.Join(root, "etc/cni/net.d")}
	ents, err := os.ReadDir(st.Dir)
	if err != nil && !os.IsNotExist(err) {
		return st, fmt.Errorf("read %s: %w", st.Dir, err)
	}
	subnets := map[string][]string{} // network name → ranges from configs
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".conf" && ext != ".conflist" && ext != ".json") {
			continue
		}
		c := parseCNIConfig(filepath.Join(st.Dir, e.Name()))
		st.Configs = append(st.Configs, c)
		if c.Subnet != "" {
			subnets[c.Name] = append(subnets[c.Name], c.Subnet)
		}
	}
	ipamDir := filepath.Join(root, "var/lib/cni/networks")
	nets, err := os.ReadDir(ipamDir)
	if err != nil && !os.IsNotExist(err) {
		return st, fmt.Errorf("read %s: %w", ipamDir, err)
	}
	flannelSubnet := ""
	if f, _ := ReadFlannelSubnet(root); f != nil {
		flannelSubnet = f.Subnet.Masked().String()
	}
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		ranges := subnets[n.Name()]
		if len(ranges) == 0 && flannelSubnet != "" {
			ranges = []string{flannelSubnet} // flannel hands host-local the node's subnet at run time
		}
		st.IPAM = append(st.IPAM, readIPAM(filepath.Join(ipamDir, n.Name()), n.Name(), ranges)...)
	}
	return st, nil
}

type cniConf struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Bridge  string          `json:"bridge"`
	MTU     int             `json:"mtu"`
	IPAM    *cniIPAM        `json:"ipam"`
	Plugins []cniConf       `json:"plugins"`
	Deleg   *cniConf        `json:"delegate"`
	Raw     json.RawMessage `json:"-"`
}

type cniIPAM struct {
	Type   string `json:"type"`
	Subnet string `json:"subnet"`
	Ranges [][]struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		RangeEnd   string `json:"rangeEnd"`
	} `json:"ranges"`
}

func parseCNIConfig(path string) CNIConfig {
	c := CNIConfig{File: path}
	b, err := readSmall(path)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	var conf cniConf
	if err := json.Unmarshal(b, &conf); err != nil {
		c.Error = fmt.Sprintf("not valid JSON: %v", err)
		return c
	}
	c.Name = conf.Name
	plugins := conf.Plugins
	if len(plugins) == 0 {
		plugins = []cniConf{conf}
	}
	for _, p := range plugins {
		c.Plugins = append(c.Plugins, p.Type)
		for _, q := range []*cniConf{&p, p.Deleg} {
			if q == nil {
				continue
			}
			if c.Bridge == "" && q.Bridge != "" {
				c.Bridge = q.Bridge
			}
			if c.MTU == 0 && q.MTU != 0 {
				c.MTU = q.MTU
			}
			if q.IPAM != nil {
				if c.IPAMType == "" {
					c.IPAMType = q.IPAM.Type
				}
				if c.Subnet == "" {
					c.Subnet = q.IPAM.Subnet
					for _, rs := range q.IPAM.Ranges {
						for _, r := range rs {
							if c.Subnet == "" {
								c.Subnet = r.Subnet
							}
						}
					}
				}
			}
		}
	}
	if len(c.Plugins) > 0 {
		c.Type = c.Plugins[0]
	}
	if c.Type == "" {
		c.Error = "no plugin type"
	}
	return c
}

// readIPAM counts the addresses host-local reserved in dir (one file per IP holding the
// container ID) against each range.
func readIPAM(dir, network string, ranges []string) []IPAMRange {
	ents, _ := os.ReadDir(dir)
	type res struct {
		ip  netip.Addr
		who string
	}
	var used []res
	for _, e := range ents {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil || e.IsDir() {
			continue // last_reserved_ip.0, lock
		}
		who := ""
		if b, err := readSmall(filepath.Join(dir, e.Name())); err == nil {
			who = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
			if len(who) > 12 {
				who = who[:12]
			}
		}
		used = append(used, res{ip, who})
	}
	sort.Slice(used, func(i, j int) bool { return used[i].ip.Less(used[j].ip) })
	if len(ranges) == 0 {
		r := IPAMRange{Network: network, Range: "unknown", Used: len(used), Free: -1}
		for _, u := range used {
			r.Addresses = append(r.Addresses, strings.TrimSpace(u.ip.String()+" "+u.who))
		}
		return []IPAMRange{r}
	}
	var out []IPAMRange
	for _, rg := range ranges {
		r := IPAMRange{Network: network, Range: rg, Free: -1}
		pf, err := netip.ParsePrefix(rg)
		if err == nil {
			pf = pf.Masked()
			for _, u := range used {
				if pf.Contains(u.ip) {
					r.Used++
					r.Addresses = append(r.Addresses, strings.TrimSpace(u.ip.String()+" "+u.who))
				}
			}
			r.Free = usable(pf) - r.Used
			if r.Free < 0 {
				r.Free = 0
			}
		}
		out = append(out, r)
	}
	return out
}

// usable counts the addresses host-local may hand out of pf: all but the network address, the
// gateway (.1) and, for IPv4, the broadcast address. Capped at 1<<30.
func usable(pf netip.Prefix) int {
	host := pf.Addr().BitLen() - pf.Bits()
	n := new(big.Int).Lsh(big.NewInt(1), uint(host))
	n.Sub(n, big.NewInt(2)) // network + gateway
	if pf.Addr().Is4() {
		n.Sub(n, big.NewInt(1)) // broadcast
	}
	if n.Sign() < 0 {
		return 0
	}
	if !n.IsInt64() || n.Int64() > 1<<30 {
		return 1 << 30
	}
	return int(n.Int64())
}

// ReadFlannelSubnet reads root/run/flannel/subnet.env; (nil, nil) when the file does not exist.
func ReadFlannelSubnet(root string) (*FlannelSubnet, error) {
	path := filepath.Join(root, "run/flannel/subnet.env")
	b, err := readSmall(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := &FlannelSubnet{File: path}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "FLANNEL_NETWORK":
			f.Network, _ = netip.ParsePrefix(v)
		case "FLANNEL_SUBNET":
			f.Subnet, _ = netip.ParsePrefix(v)
		case "FLANNEL_MTU":
			f.MTU, _ = strconv.Atoi(v)
		case "FLANNEL_IPMASQ":
			f.IPMasq = v == "true"
		}
	}
	return f, nil
}

// ReadKubeletConfig reads the fields checks use from root/var/lib/kubelet/config.yaml; (nil, nil)
// when the file does not exist. It reads top-level "key: value" lines and "- item" lists, which is
// all the KubeletConfiguration fields used here need.
func ReadKubeletConfig(root string) (*KubeletConfig, error) {
	path := filepath.Join(root, "var/lib/kubelet/config.yaml")
	b, err := readSmall(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	k := &KubeletConfig{File: path}
	key := ""
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(t, "- ") && key == "clusterDNS" {
			k.ClusterDNS = append(k.ClusterDNS, strings.Trim(strings.TrimSpace(t[2:]), `"'`))
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		kk, v, ok := strings.Cut(t, ":")
		if !ok {
			continue
		}
		key = kk
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch kk {
		case "clusterDomain":
			k.ClusterDomain = v
		case "resolvConf":
			k.ResolvConf = v
		case "clusterDNS":
			if strings.HasPrefix(v, "[") {
				for _, x := range strings.Split(strings.Trim(v, "[]"), ",") {
					if x = strings.Trim(strings.TrimSpace(x), `"'`); x != "" {
						k.ClusterDNS = append(k.ClusterDNS, x)
					}
				}
			}
		}
	}
	return k, nil
}
