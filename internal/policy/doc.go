// Package policy holds the payer policy model: which payer a policy applies
// to, its thresholds and code sets, card labels and links. It loads and
// validates policy YAML and embeds the default policy. It does no network or
// database I/O.
package policy
