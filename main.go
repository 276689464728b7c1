// Command netdoctor finds out why a Kubernetes pod cannot talk to something.
//
// Everything lives in cmd/app; this file only hands control to it.
package main

import "github.com/netdoctor/netdoctor/cmd/app"

func main() { app.Main() }
