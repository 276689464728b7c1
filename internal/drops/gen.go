package drops

// The BPF object is committed; regenerate it (needs clang and llvm-strip) with `go generate` in
// this directory. TestGeneratedObjectUpToDate fails when the committed object differs from a fresh
// build, so the flags below are pinned: no -g paths other than relative ones (bpf2go maps them).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel -cflags "-Wall -Werror" -no-global-types dropsbpf bpf/drops.c
