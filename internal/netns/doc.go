// Package netns builds a throw-away LAN out of Linux network namespaces for
// tests that need real multicast (mDNS) and real TCP between processes.
//
// Layout of a LAN made by [New] with n hosts (all names unique per LAN, so
// parallel tests and packages do not collide):
//
//	namespace lc<pid>x<rand>-sw            namespaces lc<pid>x<rand>-h1 … -hN
//	┌───────────────────────────────┐      ┌──────────────────────────────┐
//	│ br0 (bridge, no snooping)     │      │ lo                           │
//	│  ├─ p1 ── veth ───────────────┼──────┼─ eth0 10.99.S.1/24           │
//	│  ├─ p2 ── veth ── … h2        │      │      fe80::1/64, fd99:S::1/64│
//	│  └─ pN                        │      │ default route dev eth0       │
//	└───────────────────────────────┘      └──────────────────────────────┘
//
// Nothing is created in the machine's own (root) network namespace: the bridge
// lives in its own "switch" namespace and each veth pair is created there with
// its far end moved straight into the host namespace. IPv6 addresses are added
// without duplicate address detection so they are usable at once.
//
// Processes are started inside a host with [Host.Command]. [Host.CutLink]
// detaches the host's port from the bridge: frames in both directions vanish
// silently while the host still sees its link up, like a cable cut somewhere
// past the switch port — TCP connections are not reset. [Host.RestoreLink]
// reattaches it.
//
// [NewRouted] makes two such LANs, on two subnets, joined by a router
// namespace (lc<pid>x<rand>-rt, addresses .254 and ::fe on each) that
// forwards IPv4 and IPv6 unicast between them; each host's default routes
// go through it. Multicast does not cross it: two floors, or two sites
// over a VPN, each its own mDNS domain.
//
// Everything (processes in the namespaces, then the namespaces themselves) is
// removed by t.Cleanup, also when the test fails. Namespaces left behind by a
// test binary that was killed are collected by the next [New] (their names
// carry the creating process ID).
//
// Tests call [Require] first: it skips when the machine cannot make namespaces
// (not root, no ip(8)), except under CI=true, where it fails the test instead.
package netns
