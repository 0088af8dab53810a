// Package netconf brings up a machine's network at boot: the loopback
// interface always, then one interface as the kernel's ip= parameter says,
// either with the static address, gateway and name servers written there, or
// with a DHCPv4 lease that a background client renews for as long as the
// machine runs.
//
// It speaks netlink (github.com/vishvananda/netlink) and DHCP
// (github.com/insomniacslk/dhcp's nclient4); it runs no external program.
// It works in the network namespace of the calling process: tests run it in
// a namespace of their own.
//
// It is not a network manager: one interface, IPv4, no link monitoring.
// Machines that need more run a network daemon as a service.
package netconf
