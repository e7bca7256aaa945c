//! Webhooks cannot reach inside: a tenant's endpoint may not be an address of the deployment's
//! own networks (loopback, private, link-local, unique-local, multicast, unspecified), or every
//! node would POST to its neighbours (a metadata service at 169.254.169.254, a database's HTTP
//! port, Redis on loopback) for whoever registers one.
//!
//! Checked on the address the sender connects to: names are resolved by [`Guarded`], the
//! sender's own resolver, which hands the connection only the addresses it allowed, so a DNS
//! answer that changes between a check and the connection (rebinding) cannot slip through.
//! Addresses written in the URL are checked before sending, and at registration. Operators who
//! want private endpoints say so (`WEBHOOKS_ALLOW_PRIVATE=1`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why an address is inside, or None for a public one.
pub fn inside(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => inside_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4 written as IPv6 (::ffff:a.b.c.d, and NAT64's 64:ff9b::a.b.c.d) is the IPv4 address.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return inside_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return inside_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if s[0] & 0xffc0 == 0xfec0 {
                // Deprecated site-local: private in effect.
                Some("private")
            } else {
                None
            }
        }
    }
}

fn inside_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        // Carrier-grade NAT's shared space: a provider's inside.
        Some("private")
    } else {
        None
    }
}

/// At registration: the refusal for a URL whose host is an address inside, or a loopback name
/// (other names are checked when sent, by [`Guarded`]).
pub fn refusal_of_host(host: &str) -> Option<String> {
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Some(format!("{host} is a loopback name"));
    }
    refusal_of_address(host)
}

/// When sending: the refusal for a URL whose host is an address inside. (A name is left to the
/// resolver, which sees the addresses the connection will use.)
pub fn refusal_of_address(host: &str) -> Option<String> {
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    inside(ip).map(|why| format!("{ip} is a {why} address"))
}

/// The sender's resolver: the system's, keeping only addresses outside; a name with none left
/// fails to resolve, naming why.
pub struct Guarded;

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (outside, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                all.into_iter().partition(|a| inside(a.ip()).is_none());
            if outside.is_empty() {
                let why = match refused.first() {
                    Some(a) => format!(
                        "webhooks cannot reach inside: {host} resolves to {}, a {} address",
                        a.ip(),
                        inside(a.ip()).unwrap_or("private")
                    ),
                    None => format!("{host} resolves to no address"),
                };
                return Err(why.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(outside.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(s: &str) -> Option<&'static str> {
        inside(s.parse().unwrap())
    }

    #[test]
    fn addresses_inside_are_named() {
        assert_eq!(why("127.0.0.1"), Some("loopback"));
        assert_eq!(why("127.8.9.10"), Some("loopback"));
        assert_eq!(why("10.0.0.5"), Some("private"));
        assert_eq!(why("172.16.3.4"), Some("private"));
        assert_eq!(why("192.168.1.1"), Some("private"));
        assert_eq!(why("100.64.0.1"), Some("private"));
        assert_eq!(why("169.254.169.254"), Some("link-local"));
        assert_eq!(why("224.0.0.251"), Some("multicast"));
        assert_eq!(why("0.0.0.0"), Some("unspecified"));
        assert_eq!(why("255.255.255.255"), Some("broadcast"));
        assert_eq!(why("::1"), Some("loopback"));
        assert_eq!(why("::"), Some("unspecified"));
        assert_eq!(why("fe80::1"), Some("link-local"));
        assert_eq!(why("fd12:3456::1"), Some("unique-local"));
        assert_eq!(why("fc00::1"), Some("unique-local"));
        assert_eq!(why("ff02::1"), Some("multicast"));
        assert_eq!(why("::ffff:10.0.0.1"), Some("private"));
        assert_eq!(why("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(why("64:ff9b::a9fe:a9fe"), Some("link-local"));
    }

    #[test]
    fn public_addresses_pass() {
        for public in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert_eq!(why(public), None, "{public}");
        }
    }

    #[test]
    fn hosts_are_refused_by_address_or_loopback_name() {
        assert!(refusal_of_host("10.0.0.5").unwrap().contains("private"));
        assert!(refusal_of_host("[::1]").unwrap().contains("loopback"));
        assert!(refusal_of_host("LocalHost.").unwrap().contains("loopback"));
        assert!(refusal_of_host("api.localhost").is_some());
        assert_eq!(refusal_of_host("hooks.example.com"), None);
        assert_eq!(refusal_of_host("93.184.216.34"), None);
        assert_eq!(refusal_of_address("localhost"), None, "names are the resolver's");
        assert!(refusal_of_address("[::ffff:127.0.0.1]").is_some());
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_inside_does_not_resolve() {
        use reqwest::dns::Resolve;
        let err = match Guarded.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err.to_string(),
        };
        assert!(err.contains("loopback"), "{err}");
    }
}
