// Command kubeproxyrules prints an iptables-restore ruleset in the shape kube-proxy's iptables mode
// writes: kubeproxyrules SERVICES ENDPOINTS [POD_CIDR]. bench/node_view.sh loads it into a namespace.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: kubeproxyrules SERVICES ENDPOINTS [POD_CIDR]")
		os.Exit(2)
	}
	svcs, err1 := strconv.Atoi(os.Args[1])
	eps, err2 := strconv.Atoi(os.Args[2])
	if err1 != nil || err2 != nil || svcs < 1 || eps < 1 {
		fmt.Fprintln(os.Stderr, "kubeproxyrules: SERVICES and ENDPOINTS must be positive integers")
		os.Exit(2)
	}
	cidr := "10.244.0.0/16"
	if len(os.Args) > 3 {
		cidr = os.Args[3]
	}
	fmt.Print(testenv.KubeProxyRules(svcs, eps, cidr))
}
