//! Pure torrc generation for the nodes of a private Tor network.
//!
//! The option set follows the spirit of chutney's `torrc_templates/` (rapid bootstrap options), adapted
//! so that every listener is on 127.0.0.x and the exit's policy is `accept *:*`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Seconds between consensuses (both the initial and the regular voting interval).
///
/// A multiple of 5: with `TestingTorNetwork 1`, C-tor ignores the `hsdir_interval` consensus parameter and
/// makes the onion-service time period as long as a shared-random protocol run (24 voting intervals, in whole
/// minutes) with a rotation offset of 12 intervals. Arti instead reads `hsdir_interval` from the consensus
/// (default 1440 minutes, at least 5) and offsets by 12 voting intervals. The two agree on time periods — so on
/// blinded keys and HSDir rings — only if 24 intervals are a whole number of minutes, at least 5, published as
/// [`HSDIR_INTERVAL_MINUTES`].
pub const VOTING_INTERVAL_SECS: u32 = 15;
/// The onion-service time period of the network in minutes (C-tor's in a testing network: one SRV protocol run
/// of 24 voting intervals), published to arti as the `hsdir_interval` consensus parameter.
pub const HSDIR_INTERVAL_MINUTES: u32 = 24 * VOTING_INTERVAL_SECS / 60;
const _: () = assert!(
    (24 * VOTING_INTERVAL_SECS).is_multiple_of(60) && (12 * VOTING_INTERVAL_SECS).is_multiple_of(60),
    "C-tor and arti would disagree on the time period"
);
const _: () = assert!(HSDIR_INTERVAL_MINUTES >= 5, "arti's hsdir_interval is at least 5 minutes");
/// Seconds for the vote and for the distribution delay (each must stay below half the interval).
pub const VOTE_DELAY_SECS: u32 = 2;

/// What a node does in the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A v3 directory authority (also a non-exit relay and a directory cache).
    Authority,
    /// A non-exit middle relay.
    Middle,
    /// The one exit relay (`ExitPolicy accept *:*`).
    Exit,
    /// An onion service host (a client only) forwarding virtual port 80 to `target`; virtual port 9 goes to
    /// `probe`, a listener owned by the test network that is used to detect when the service is reachable.
    OnionService {
        /// Where virtual port 80 is forwarded.
        target: SocketAddr,
        /// Where virtual port 9 is forwarded (readiness probe).
        probe: SocketAddr,
        /// `HiddenServiceExportCircuitID haproxy`: each connection to the target starts with a PROXY
        /// protocol v1 line whose source address encodes the rendezvous circuit's id, so the target
        /// can tell which connections came over the same circuit.
        export_circuit_id: bool,
    },
    /// The C-tor client offering SOCKS5 and a control port.
    Client,
}

/// One node's listeners and data directory.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Tor nickname (1..19 alphanumerics).
    pub nickname: String,
    /// Role in the network.
    pub kind: NodeKind,
    /// The node's `DataDirectory` (its torrc and logs live there too).
    pub data_dir: PathBuf,
    /// ORPort on 127.0.0.1 (relays and authorities; ignored otherwise).
    pub or_port: u16,
    /// DirPort on 127.0.0.1 (authorities only; ignored otherwise).
    pub dir_port: u16,
    /// SocksPort on 127.0.0.1 (client only; ignored otherwise).
    pub socks_port: u16,
    /// ControlPort on 127.0.0.1 (client and onion service; 0 for none).
    pub control_port: u16,
}

/// What every torrc of one network shares.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// The `DirAuthority ...` lines (without the keyword), identical in every torrc.
    pub dir_authorities: Vec<String>,
    /// RSA fingerprint (40 hex) of the exit, the only relay voted `Exit`.
    pub exit_fingerprint: String,
    /// Source address of the exit's (and onion service's) connections to their targets.
    pub exit_address: Ipv4Addr,
    /// `__OwningControllerProcess`: tor exits when this process dies.
    pub owner_pid: Option<u32>,
}

/// Formats a `DirAuthority` line value (everything after the keyword).
pub fn dir_authority_line(nickname: &str, or_port: u16, v3ident: &str, dir_port: u16, rsa_identity: &str) -> String {
    format!("{nickname} orport={or_port} no-v2 v3ident={v3ident} 127.0.0.1:{dir_port} {rsa_identity}")
}

/// Builds the complete torrc for `node`. Pure: depends only on its arguments.
pub fn torrc(node: &NodeSpec, net: &NetworkSpec) -> String {
    let dir = node.data_dir.display();
    let mut t = String::new();
    let mut line = |s: &str| {
        t.push_str(s);
        t.push('\n');
    };
    // TestingTorNetwork must come first: it changes the defaults and unlocks the Testing* options.
    line("TestingTorNetwork 1");
    line(&format!("DataDirectory {dir}"));
    line("RunAsDaemon 0");
    line(&format!("Nickname {}", node.nickname));
    line(&format!("ContactInfo {}@test.invalid", node.nickname.to_lowercase()));
    line("ShutdownWaitLength 0");
    line(&format!("Log notice file {dir}/notice.log"));
    line("SafeLogging 0");
    line("ProtocolWarnings 1");
    line("DisableDebuggerAttachment 0");
    line("AssumeReachable 1");
    line("PathsNeededToBuildCircuits 0.25");
    line("TestingDirAuthVoteGuard *");
    line("TestingDirAuthVoteHSDir *");
    line(&format!("TestingDirAuthVoteExit {}", net.exit_fingerprint));
    line("TestingMinExitFlagThreshold 0");
    line(&format!("TestingV3AuthInitialVotingInterval {VOTING_INTERVAL_SECS}"));
    line(&format!("TestingV3AuthInitialVoteDelay {VOTE_DELAY_SECS}"));
    line(&format!("TestingV3AuthInitialDistDelay {VOTE_DELAY_SECS}"));
    line(&format!("V3AuthVotingInterval {VOTING_INTERVAL_SECS}"));
    line(&format!("V3AuthVoteDelay {VOTE_DELAY_SECS}"));
    line(&format!("V3AuthDistDelay {VOTE_DELAY_SECS}"));
    line("ClientUseIPv6 0");
    if let Some(pid) = net.owner_pid {
        line(&format!("__OwningControllerProcess {pid}"));
    }
    for auth in &net.dir_authorities {
        line(&format!("DirAuthority {auth}"));
    }
    let relay = |t: &mut dyn FnMut(&str)| {
        t("Address 127.0.0.1");
        t(&format!("ORPort 127.0.0.1:{}", node.or_port));
        t("SocksPort 0");
    };
    match &node.kind {
        NodeKind::Authority => {
            relay(&mut line);
            line("AuthoritativeDirectory 1");
            line("V3AuthoritativeDirectory 1");
            // Tells arti the time period C-tor uses here (see VOTING_INTERVAL_SECS); C-tor ignores it.
            line(&format!("ConsensusParams hsdir_interval={HSDIR_INTERVAL_MINUTES}"));
            line(&format!("DirPort 127.0.0.1:{}", node.dir_port));
            line("ExitRelay 0");
            line("ExitPolicy reject *:*");
        }
        NodeKind::Middle => {
            relay(&mut line);
            line("ExitRelay 0");
            line("ExitPolicy reject *:*");
        }
        NodeKind::Exit => {
            relay(&mut line);
            line("ExitRelay 1");
            line("IPv6Exit 0");
            // Arti reads only microdescriptors, whose policy summaries ignore private addresses: the policy
            // must be accept *:* for arti to consider this relay an exit for 127.0.0.1 targets.
            line("ExitPolicyRejectPrivate 0");
            line("ExitPolicyRejectLocalInterfaces 0");
            line("ExitPolicy accept *:*");
            line(&format!("OutboundBindAddressExit {}", net.exit_address));
            // In the network's first minutes the exit's consensus may not list the relay before it yet;
            // by default it would then refuse the stream as "from unknown relay" (END reason MISC).
            line("RefuseUnknownExits 0");
            // Keep the exit's DNS on this machine: a resolver that is never there, and no hijack probes.
            line(&format!("ServerDNSResolvConfFile {dir}/resolv.conf"));
            line("ServerDNSDetectHijacking 0");
            line("ServerDNSAllowBrokenConfig 1");
        }
        NodeKind::OnionService { target, probe, export_circuit_id } => {
            line("SocksPort 0");
            if node.control_port != 0 {
                line(&format!("ControlPort 127.0.0.1:{}", node.control_port));
                line("CookieAuthentication 1");
            }
            line(&format!("OutboundBindAddressExit {}", net.exit_address));
            line(&format!("HiddenServiceDir {dir}/hs"));
            line(&format!("HiddenServicePort 80 {target}"));
            line(&format!("HiddenServicePort 9 {probe}"));
            if *export_circuit_id {
                line("HiddenServiceExportCircuitID haproxy");
            }
        }
        NodeKind::Client => {
            // IsolateSOCKSAuth is on by default: distinct SOCKS credentials get distinct circuits.
            line(&format!("SocksPort 127.0.0.1:{}", node.socks_port));
            if node.control_port != 0 {
                line(&format!("ControlPort 127.0.0.1:{}", node.control_port));
                line("CookieAuthentication 1");
            }
            // Full descriptors carry the exact exit policy, so the client uses the exit for 127.0.0.1 targets.
            line("UseMicrodescriptors 0");
            // A stream that finds no circuit (the exit gone) fails with a SOCKS error after 30 s instead of
            // the default 2 minutes, before a caller's own connect timeout (sov-net: 60 s) runs out.
            line("SocksTimeout 30");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkSpec {
        NetworkSpec {
            dir_authorities: vec![dir_authority_line("auth0", 5000, &"A".repeat(40), 5001, &"B".repeat(40))],
            exit_fingerprint: "C".repeat(40),
            exit_address: Ipv4Addr::new(127, 0, 0, 2),
            owner_pid: Some(42),
        }
    }

    fn spec(kind: NodeKind) -> NodeSpec {
        NodeSpec {
            nickname: "node".into(),
            kind,
            data_dir: PathBuf::from("/tmp/x/node"),
            or_port: 6000,
            dir_port: 6001,
            socks_port: 6002,
            control_port: 6003,
        }
    }

    #[test]
    fn the_exit_accepts_everything_including_private_addresses() {
        let t = torrc(&spec(NodeKind::Exit), &net());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "TestingTorNetwork 1");
        assert!(lines.contains(&"ExitPolicy accept *:*"), "{t}");
        assert!(lines.contains(&"ExitPolicyRejectPrivate 0"), "{t}");
        assert!(lines.contains(&"ExitPolicyRejectLocalInterfaces 0"), "{t}");
        assert!(lines.contains(&"OutboundBindAddressExit 127.0.0.2"), "{t}");
        assert!(!lines.iter().any(|l| l.contains("reject *:*")), "{t}");
        assert!(lines.contains(&"__OwningControllerProcess 42"), "{t}");
    }

    #[test]
    fn non_exits_reject_everything_and_all_share_the_authorities() {
        let dir_line = format!(
            "DirAuthority auth0 orport=5000 no-v2 v3ident={} 127.0.0.1:5001 {}",
            "A".repeat(40),
            "B".repeat(40)
        );
        for kind in [NodeKind::Authority, NodeKind::Middle] {
            let t = torrc(&spec(kind), &net());
            assert!(t.lines().any(|l| l == "ExitPolicy reject *:*"), "{t}");
            assert!(t.lines().any(|l| l == dir_line), "{t}");
        }
        let t = torrc(&spec(NodeKind::Authority), &net());
        assert!(t.lines().any(|l| l == format!("ConsensusParams hsdir_interval={HSDIR_INTERVAL_MINUTES}")), "{t}");
        let t = torrc(&spec(NodeKind::Client), &net());
        assert!(t.lines().any(|l| l == "UseMicrodescriptors 0"), "{t}");
        assert!(t.lines().any(|l| l == "SocksPort 127.0.0.1:6002"), "{t}");
        assert!(t.lines().any(|l| l == dir_line), "{t}");
        assert!(!t.contains("ORPort"), "{t}");
    }

    #[test]
    fn every_listener_is_on_loopback() {
        for kind in [
            NodeKind::Authority,
            NodeKind::Middle,
            NodeKind::Exit,
            NodeKind::Client,
            NodeKind::OnionService {
                target: SocketAddr::from(([127, 0, 0, 1], 80)),
                probe: SocketAddr::from(([127, 0, 0, 1], 81)),
                export_circuit_id: true,
            },
        ] {
            let t = torrc(&spec(kind), &net());
            for l in t.lines() {
                for key in ["ORPort", "DirPort", "SocksPort", "ControlPort"] {
                    if let Some(v) = l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')) {
                        assert!(v == "0" || v.starts_with("127.0.0.1:"), "{l}");
                    }
                }
            }
        }
    }
}
