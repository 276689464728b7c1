//go:build linux

package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Exec runs a command with the lab namespace nsName as its network namespace and returns its
// combined output. Faults use it for iptables, nft and tc-free tweaks inside the lab.
func (l *Lab) Exec(ctx context.Context, nsName string, stdin string, name string, args ...string) (string, error) {
	if err := l.owns(nsName); err != nil {
		return "", err
	}
	ns, err := netns.OpenPath(nsName)
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	defer ns.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := runIn(ns, cmd)
	if err != nil {
		return out, fmt.Errorf("lab: %s: %s %s: %w: %s", nsName, name, strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return out, nil
}

// IPTables runs `iptables -w 5 ARGS` inside the lab namespace nsName.
func (l *Lab) IPTables(ctx context.Context, nsName string, args ...string) error {
	_, err := l.Exec(ctx, nsName, "", "iptables", append([]string{"-w", "5"}, args...)...)
	return err
}

// Sysctl writes a sysctl (dotted key; use slashes for interface names with dots) inside nsName.
func (l *Lab) Sysctl(nsName, key, value string) error {
	if err := l.owns(nsName); err != nil {
		return err
	}
	ns, err := netns.OpenPath(nsName)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer ns.Close()
	return writeSysctl(ns, key, value)
}

// Netlink runs fn with a netlink handle inside the lab namespace nsName.
func (l *Lab) Netlink(nsName string, fn func(h *netlink.Handle) error) error {
	if err := l.owns(nsName); err != nil {
		return err
	}
	ns, err := netns.OpenPath(nsName)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer ns.Close()
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := fn(h); err != nil {
		return fmt.Errorf("lab: %s: %w", nsName, err)
	}
	return nil
}

// SetMTU sets the MTU of link in nsName.
func (l *Lab) SetMTU(nsName, link string, mtu int) error {
	return l.Netlink(nsName, func(h *netlink.Handle) error {
		lk, err := h.LinkByName(link)
		if err != nil {
			return fmt.Errorf("link %s: %w", link, err)
		}
		if err := h.LinkSetMTU(lk, mtu); err != nil {
			return fmt.Errorf("set mtu of %s to %d: %w", link, mtu, err)
		}
		return nil
	})
}

// owns refuses namespaces that are not the lab's: a fault may only touch its own lab.
func (l *Lab) owns(nsName string) error {
	for _, n := range l.State.Namespaces {
		if n == nsName {
			return nil
		}
	}
	return fmt.Errorf("lab: %q is not a namespace of lab %s", nsName, l.State.Name)
}

// RestoreIPTables replaces the tables named in rules (iptables-restore input) inside nsName.
func (l *Lab) RestoreIPTables(ctx context.Context, nsName, rules string) error {
	_, err := l.Exec(ctx, nsName, rules, "iptables-restore", "-w", "5")
	return err
}

// Veth creates a veth pair between two lab namespaces (nameA in nsA, nameB in nsB), both up.
func (l *Lab) Veth(nsA, nameA, nsB, nameB string) error {
	if err := l.owns(nsB); err != nil {
		return err
	}
	peer, err := netns.OpenPath(nsB)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer peer.Close()
	if err := l.Netlink(nsA, func(h *netlink.Handle) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = nameA
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: nameB, PeerNamespace: netlink.NsFd(peer.Handle())}); err != nil {
			return fmt.Errorf("veth %s: %w", nameA, err)
		}
		lk, err := h.LinkByName(nameA)
		if err != nil {
			return err
		}
		return h.LinkSetUp(lk)
	}); err != nil {
		return err
	}
	return l.Netlink(nsB, func(h *netlink.Handle) error {
		lk, err := h.LinkByName(nameB)
		if err != nil {
			return err
		}
		return h.LinkSetUp(lk)
	})
}
