//! Which URLs a fetch may reach: never this machine or its network unless the user allowed it.
//!
//! Checked, in order, for every URL (the first and each redirect's):
//! 1. the scheme is `http` or `https`, and the URL holds no user name or password;
//! 2. the host is allowlisted (`[web] allow`): then it may be anything;
//! 3. an IP address (the `url` crate has already read decimal, octal and hex IPv4 forms such as
//!    `2130706433` or `0177.0.0.1` as the address they mean) is refused when it is loopback,
//!    private, link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation or
//!    reserved; an IPv6 address also when it is unique-local or link-local, and when it carries an
//!    IPv4 address (mapped `::ffff:a.b.c.d`, compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//!    that would be refused;
//! 4. a name is refused when it is `localhost` or ends in `.localhost`, `.local`, `.internal`,
//!    `.lan`, `.home.arpa` or `.localdomain`, or has a single label (`router`, `nas`): such names
//!    only mean something on the user's own network.
//!
//! What this cannot see: where a name resolves. By Tor and SOCKS5 the far end resolves it, and
//! an exit cannot reach this machine's network; by the `direct-insecure-dev` route this machine
//! resolves it, and [`Policy::address_check`] is applied to the address actually connected to
//! (a name that resolves to `127.0.0.1`, first or on a second lookup, is refused there).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct Refused {
    /// The URL, without anything after the host.
    pub url: String,
    /// Why, in words a user can act on.
    pub reason: String,
}

/// One `[web] allow` entry: a host, and a port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

/// The URL policy of `web.fetch`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<Allowed>,
}

impl Policy {
    /// A policy allowing the hosts in `allow` (`name`, `name:port`, `10.0.0.5`, `[::1]:8080`).
    ///
    /// # Errors
    /// An entry that is not a host, naming it.
    pub fn new(allow: &[String]) -> Result<Policy, String> {
        let allow = allow
            .iter()
            .map(|entry| {
                let parsed = Url::parse(&format!("http://{}/", entry.trim()))
                    .ok()
                    .filter(|u| u.username().is_empty() && u.path() == "/")
                    .and_then(|u| Some(Allowed { host: u.host_str()?.to_owned(), port: u.port() }))
                    .filter(|a| !a.host.is_empty());
                parsed.ok_or_else(|| format!("[web] allow: `{entry}` is not a host, host:port or [ipv6]:port"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { allow })
    }

    /// Whether `url`'s host and port are allowlisted.
    pub fn allowlisted(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        self.allow.iter().any(|a| a.host.eq_ignore_ascii_case(host) && a.port.is_none_or(|p| p == port))
    }

    /// Parses `text` and checks it.
    ///
    /// # Errors
    /// [`Refused`] saying why.
    pub fn parse(&self, text: &str) -> Result<Url, Refused> {
        let url = Url::parse(text.trim()).map_err(|e| Refused {
            url: text.chars().take(200).collect(),
            reason: format!("not a URL ({e}); give an absolute http:// or https:// URL"),
        })?;
        self.check(&url)?;
        Ok(url)
    }

    /// Checks `url` (steps 1–4 of the module docs).
    ///
    /// # Errors
    /// [`Refused`] saying why.
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        let refuse = |reason: String| Refused { url: shown(url), reason };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse(format!("the scheme `{}` is not fetched; only http and https are", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("a URL with a user name or password is not fetched".into()));
        }
        if self.allowlisted(url) {
            return Ok(());
        }
        let why = match url.host() {
            None => Some("the URL has no host".to_owned()),
            Some(Host::Ipv4(ip)) => refused_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => refused_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => refused_name(name),
        };
        match why {
            None => Ok(()),
            Some(why) => Err(refuse(format!(
                "{why}; a fetch never reaches this machine or its network unless `[web] allow` lists the host"
            ))),
        }
    }

    /// The check of an address this machine is about to connect to for `url` (see the module
    /// docs): everything when `url`'s host is allowlisted, otherwise what step 3 allows.
    pub fn address_check(&self, url: &Url) -> sov_net::AddressCheck {
        let allowlisted = self.allowlisted(url);
        std::sync::Arc::new(move |ip| match allowlisted {
            true => Ok(()),
            false => refused_ip(ip).map_or(Ok(()), |why| Err(format!("{why}; `[web] allow` does not list the host"))),
        })
    }
}

/// `url` up to its host and port, for messages.
fn shown(url: &Url) -> String {
    match url.host_str() {
        Some(host) => format!("{}://{}{}", url.scheme(), host, url.port().map(|p| format!(":{p}")).unwrap_or_default()),
        None => url.scheme().to_owned(),
    }
}

/// Why a name is refused, if it is (step 4).
fn refused_name(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    const LOCAL: [&str; 6] = ["localhost", "local", "internal", "lan", "home.arpa", "localdomain"];
    if LOCAL.iter().any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}"))) {
        return Some(format!("`{name}` is a name of this machine or its local network"));
    }
    if !name.contains('.') {
        return Some(format!("`{name}` has a single label, a name only the local network knows"));
    }
    None
}

/// Why an address is refused, if it is (step 3).
pub fn refused_ip(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4).map(|what| format!("{v4} is {what}")),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return refused_v4(v4).map(|what| format!("{v6} carries {v4}, {what}"));
            }
            refused_v6(v6).map(|what| format!("{v6} is {what}"))
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_loopback() {
        "a loopback address (this machine)"
    } else if ip.is_private() {
        "a private address (a local network)"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 100 && (64..128).contains(&b) {
        "a shared address (carrier-grade NAT)"
    } else if ip.is_unspecified() || a == 0 {
        "an unspecified address (this machine)"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0 && c == 0) {
        "a reserved address (documentation, benchmarking or protocol assignments)"
    } else if a >= 240 {
        "a reserved address"
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "the loopback address (this machine)"
    } else if ip.is_unspecified() {
        "the unspecified address (this machine)"
    } else if first & 0xfe00 == 0xfc00 {
        "a unique-local address (a local network)"
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        "a link-local or site-local address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        "a documentation address"
    } else {
        return None;
    })
}

/// An IPv4 address carried inside an IPv6 one: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low);
    }
    if (s[0] == 0x64 && s[1] == 0xff9b) && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_and_its_network_are_refused_in_every_spelling() {
        let policy = Policy::new(&[]).unwrap();
        for url in [
            "http://127.0.0.1:7001/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://0.0.0.0:7001/",
            "http://0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:c0a8:0101::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
            "http://localhost:7001/",
            "http://LOCALHOST./",
            "http://console.localhost/",
            "http://printer.local/",
            "http://nas.lan/",
            "http://router.home.arpa/",
            "http://db.internal/",
            "http://router/",
            "http://user:pw@example.org/",
            "file:///etc/passwd",
            "ftp://example.org/",
            "gopher://example.org/",
            "not a url",
        ] {
            assert!(policy.parse(url).is_err(), "{url} was allowed");
        }
        let why = policy.parse("http://2130706433:7001/").unwrap_err().to_string();
        assert!(why.contains("127.0.0.1 is a loopback address") && why.contains("[web] allow"), "{why}");
    }

    #[test]
    fn public_addresses_and_names_are_allowed() {
        let policy = Policy::new(&[]).unwrap();
        for url in [
            "https://example.org/a?b=c",
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "https://en.wikipedia.org/wiki/Tor",
            "http://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/",
        ] {
            policy.parse(url).unwrap();
        }
    }

    #[test]
    fn an_allowlisted_host_is_reached_on_its_port_only() {
        let policy = Policy::new(&["127.0.0.1:7001".into(), "nas.lan".into(), "[::1]:8080".into()]).unwrap();
        policy.parse("http://127.0.0.1:7001/x").unwrap();
        policy.parse("http://nas.lan:5000/").unwrap();
        policy.parse("http://[::1]:8080/").unwrap();
        assert!(policy.parse("http://127.0.0.1:7002/").is_err());
        assert!(policy.parse("http://[::1]:8081/").is_err());
        let check = policy.address_check(&Url::parse("http://example.org/").unwrap());
        assert!(check("127.0.0.1".parse().unwrap()).is_err());
        assert!(check("93.184.215.14".parse().unwrap()).is_ok());
        let allowed = policy.address_check(&Url::parse("http://nas.lan/").unwrap());
        assert!(allowed("192.168.1.5".parse().unwrap()).is_ok());
        assert!(Policy::new(&["http://x/y".into()]).is_err());
    }
}
