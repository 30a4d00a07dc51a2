//! Where the service may call out to: tenants' webhook receivers now, pulled
//! `source.url` files later. HTTPS only, never to loopback, private, link-local (the instance
//! metadata address included), shared, multicast, unspecified, documentation or reserved
//! addresses, in any notation, and no redirects.
//!
//! A name is checked on the addresses it resolves to, by the resolver the HTTP client connects
//! with ([`Guard`]): the connection goes to an address that was checked, so a name that resolves
//! to a public address when checked and to a private one when used (DNS rebinding) is refused.
//! A literal address never reaches a resolver: [`check_url`] checks it, and [`Outbound::post`]
//! checks every URL before it sends.
//!
//! The local stack may allow loopback (`ALLOW_INSECURE_WEBHOOKS`), with plain `http://` to a
//! loopback host, so its tests and users can run a receiver on the same machine; everything else
//! stays refused there, the metadata address included.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::config::Settings;
use crate::ports::Opened;
use domain::error::{Error, Result};

pub const MAX_URL_BYTES: usize = 2048;

/// Why an address is refused; None when it may be called. `allow_loopback` admits 127.0.0.0/8
/// and ::1 (the local stack), nothing else.
pub fn refusal(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4, allow_loopback),
        IpAddr::V6(v6) => refusal_v6(v6, allow_loopback),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn refusal_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (this network)"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared (carrier-grade NAT)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local (instance metadata)"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "reserved (IETF protocol assignments)"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "reserved (6to4 relay)"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "reserved (benchmarking)"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved (or broadcast)"),
    ];
    let (_, _, why) = RANGES.iter().find(|(net, bits, _)| in_v4(ip, *net, *bits))?;
    if *why == "loopback" && allow_loopback {
        return None;
    }
    Some(*why)
}

fn refusal_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let bits = u128::from(ip);
    let in_net = |net: u128, len: u32| bits >> (128 - len) == net >> (128 - len);
    let embedded = Ipv4Addr::from(bits as u32);
    if ip == Ipv6Addr::LOCALHOST {
        return (!allow_loopback).then_some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // Forms that carry an IPv4 address: judged by it (a mapped loopback stays refused: only
    // the plain forms are the local stack's loopback).
    if in_net(0xffff << 32, 96) || in_net(0x64_ff9b << 96, 96) {
        return refusal_v4(embedded, false).map(|_| "an IPv4-mapped or NAT64 form of a refused IPv4 address");
    }
    if in_net(0x2002 << 112, 16) {
        let six_to_four = Ipv4Addr::from((bits >> 80) as u32);
        return refusal_v4(six_to_four, false).map(|_| "a 6to4 form of a refused IPv4 address");
    }
    const RANGES: &[(u128, u32, &str)] = &[
        (0, 96, "IPv4-compatible (deprecated)"),
        (0x0064_ff9b_0001 << 80, 48, "NAT64 (local use)"),
        (0x0100 << 112, 64, "reserved (discard)"),
        (0x2001 << 112, 23, "reserved (IETF protocol assignments, Teredo)"),
        (0x2001_0db8 << 96, 32, "documentation"),
        (0x3fff << 112, 20, "documentation"),
        (0xfc00 << 112, 7, "unique-local (private)"),
        (0xfe80 << 112, 10, "link-local"),
        (0xfec0 << 112, 10, "site-local (deprecated)"),
        (0xff00 << 112, 8, "multicast"),
    ];
    if let Some((_, _, why)) = RANGES.iter().find(|(net, len, _)| in_net(*net, *len)) {
        return Some(*why);
    }
    // Only global unicast is routable on the internet.
    (!in_net(0x2000 << 112, 3)).then_some("reserved (not global unicast)")
}

/// Is this host a loopback name or address (for `http://` under `allow_loopback`)?
fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The URL if the service may call it, else why not (for a 400 naming the field). A name's
/// addresses are checked when it is called, by [`Guard`].
pub fn check_url(text: &str, allow_loopback: bool) -> std::result::Result<Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("at most {MAX_URL_BYTES} bytes"));
    }
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let Some(host) = url.host() else { return Err("must be an https:// URL with a host".into()) };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && is_loopback_host(&host) => {}
        "http" if allow_loopback => return Err("http:// is accepted for a loopback host only; use https://".into()),
        _ => return Err("must be an https:// URL".into()),
    }
    let ip = match host {
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
        Host::Domain(_) if is_loopback_host(&host) && !allow_loopback => {
            return Err("the host is a loopback name: the service does not call it".into());
        }
        Host::Domain(_) => return Ok(url),
    };
    match refusal(ip, allow_loopback) {
        None => Ok(url),
        Some(why) => Err(format!("{ip} is a {why} address: the service does not call it")),
    }
}

/// A name resolved to an address the rules refuse; the error a refused call carries.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves to {ip}, a {why} address: the service does not call it")]
pub struct Refused {
    name: String,
    ip: IpAddr,
    why: &'static str,
}

/// The HTTP client's resolver: resolves a name, and refuses it when any of its addresses breaks
/// the rules (one bad address among good ones is how a rebinding name looks).
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    allow_loopback: bool,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find_map(|a| Some((a.ip(), refusal(a.ip(), allow_loopback)?))) {
                return Err(Box::new(Refused { name, ip: bad.0, why: bad.1 }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether a failed call was refused by the rules (not worth another try).
pub fn is_refused(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<Refused>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The HTTP client for calls out of the service; built once per process.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow_loopback: bool,
}

impl Outbound {
    pub fn new(timeout: Duration, allow_loopback: bool) -> Result<Self> {
        Self::guarded(reqwest::Client::builder().timeout(timeout).connect_timeout(timeout), allow_loopback)
    }

    /// The client `builder` makes, held to the rules.
    fn guarded(builder: reqwest::ClientBuilder, allow_loopback: bool) -> Result<Self> {
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .dns_resolver(Arc::new(Guard { allow_loopback }))
            .build()
            .map_err(|e| Error::Internal(format!("outbound HTTP client: {e}")))?;
        Ok(Self { http, allow_loopback })
    }

    /// A client for downloads (`source.url`): the rules of [`Outbound::new`], a connect timeout
    /// and one between reads, none on the whole body, which may take hours.
    pub fn downloads(allow_loopback: bool) -> Result<Self> {
        let wait = Duration::from_secs(30);
        Self::guarded(reqwest::Client::builder().connect_timeout(wait).read_timeout(wait), allow_loopback)
    }

    /// The body of a GET of `url` as a stream; `Ok(Err(why))` when the rules refuse the URL or
    /// the server answers other than 2xx (a 5xx or a lost connection is retried).
    pub async fn download(&self, url: &str) -> Result<std::result::Result<Opened, String>> {
        use futures::TryStreamExt;
        let url = match check_url(url, self.allow_loopback) {
            Ok(url) => url,
            Err(why) => return Ok(Err(format!("source.url: {why}"))),
        };
        let resp = match self.http.get(url).send().await {
            Ok(resp) => resp,
            Err(e) if is_refused(&e) => return Ok(Err(format!("source.url: {e}"))),
            Err(e) => return Err(Error::aws("source", e)),
        };
        let status = resp.status();
        if status.is_server_error() {
            return Err(Error::aws("source", format!("source.url answered {status}")));
        }
        if !status.is_success() {
            return Ok(Err(format!("source.url answered {status}")));
        }
        let size = resp.content_length().unwrap_or_default();
        let body = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Ok(Opened { stream: Box::new(tokio_util::io::StreamReader::new(body)), size, etag: None }))
    }

    /// A POST to the URL, or why the rules refuse it.
    pub fn post(&self, url: &str) -> std::result::Result<reqwest::RequestBuilder, String> {
        let url = check_url(url, self.allow_loopback)?;
        Ok(self.http.post(url))
    }
}

/// The HTTP client deliveries are made with; built once per process.
#[derive(Clone)]
pub struct Webhooks {
    pub(crate) outbound: Outbound,
}

impl Webhooks {
    pub fn new(settings: &Settings) -> Result<Self> {
        let timeout = Duration::from_secs(settings.webhook_retry.timeout_secs);
        Ok(Self { outbound: Outbound::new(timeout, settings.allow_insecure_webhooks)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_crate_reads_every_ipv4_notation_as_an_address() {
        for (text, ip) in [
            ("https://2130706433/", "127.0.0.1"),
            ("https://0177.0.0.1/", "127.0.0.1"),
            ("https://0x7f.0.0.1/", "127.0.0.1"),
            ("https://0x7f000001/", "127.0.0.1"),
            ("https://127.1/", "127.0.0.1"),
            ("https://10.1/", "10.0.0.1"),
            ("https://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"),
            ("https://0251.0376.0251.0376/", "169.254.169.254"),
            ("https://2852039166/", "169.254.169.254"),
            ("https://169.254.43518/", "169.254.169.254"),
        ] {
            let url = Url::parse(text).unwrap();
            assert_eq!(url.host(), Some(Host::Ipv4(ip.parse().unwrap())), "{text}");
        }
    }

    /// Every form here breaks the rules with and without the local stack's loopback setting.
    const REFUSED_EVERYWHERE: &[&str] = &[
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "https://2852039166/",
        "https://0xa9fea9fe/",
        "https://0251.0376.0251.0376/",
        "https://169.254.43518/",
        "https://[::ffff:169.254.169.254]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[64:ff9b::169.254.169.254]/",
        "https://[2002:a9fe:a9fe::1]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://169.254.0.1/",
        "https://10.0.0.1/",
        "https://10.1/",
        "https://012.0.0.1/",
        "https://172.16.0.1/",
        "https://172.31.255.255/",
        "https://192.168.1.1/",
        "https://3232235777/",
        "https://100.64.0.1/",
        "https://100.127.255.254/",
        "https://0.0.0.0/",
        "https://0/",
        "https://[::]/",
        "https://255.255.255.255/",
        "https://240.0.0.1/",
        "https://224.0.0.1/",
        "https://239.255.255.250/",
        "https://[ff02::1]/",
        "https://[fc00::1]/",
        "https://[fec0::1]/",
        "https://192.0.0.170/",
        "https://192.0.2.1/",
        "https://198.51.100.7/",
        "https://203.0.113.9/",
        "https://198.18.0.1/",
        "https://[2001:db8::1]/",
        "https://[2001::1]/",
        "https://[100::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[::ffff:127.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "https://[::127.0.0.1]/",
        "https://[::8.8.8.8]/",
        "https://[64:ff9b::10.0.0.1]/",
        "https://[64:ff9b::127.0.0.1]/",
        "https://[64:ff9b:1::8.8.8.8]/",
        "https://[2002:7f00:1::]/",
        "https://[2002:c0a8:0101::1]/",
        "https://[4000::1]/",
        "http://example.com/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "not a url",
        "",
    ];

    /// Loopback in its plain forms: refused unless the local stack allows it.
    const LOOPBACK: &[&str] = &[
        "https://127.0.0.1/",
        "https://127.8.9.10:8443/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0x7f.0.0.1/",
        "https://0x7f000001/",
        "https://127.1/",
        "https://[::1]/",
        "https://localhost/",
        "https://LOCALHOST./",
        "https://api.localhost/",
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
    ];

    #[test]
    fn refused_address_forms() {
        assert!(REFUSED_EVERYWHERE.len() >= 30);
        for url in REFUSED_EVERYWHERE {
            for allow_loopback in [false, true] {
                assert!(check_url(url, allow_loopback).is_err(), "{url} allowed (loopback setting {allow_loopback})");
            }
        }
        for url in LOOPBACK {
            assert!(check_url(url, false).is_err(), "{url} allowed without the loopback setting");
            assert!(
                check_url(url, true).is_ok(),
                "{url} refused with the loopback setting: {:?}",
                check_url(url, true)
            );
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for url in [
            "https://hooks.example.com/x?token=1",
            "HTTPS://Example.COM:8443/x",
            "https://8.8.8.8/",
            "https://134744072/",
            "https://[2606:4700:4700::1111]/",
            "https://[::ffff:8.8.8.8]/",
            "https://[64:ff9b::8.8.8.8]/",
            "https://[2002:0808:0808::1]/",
            "https://172.32.0.1/",
            "https://100.128.0.1/",
            "https://169.255.0.1/",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}: {:?}", check_url(url, false));
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(check_url(&long, false).unwrap_err().contains("2048"));
        assert!(check_url("http://example.com/x", true).unwrap_err().contains("loopback"));
        assert!(check_url("https://169.254.169.254/", true).unwrap_err().contains("169.254.169.254"));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_refused_addresses() {
        let resolve = |allow_loopback: bool| async move {
            Guard { allow_loopback }.resolve("localhost".parse().unwrap()).await.map(|a| a.collect::<Vec<_>>())
        };
        let err = resolve(false).await.unwrap_err();
        assert!(err.downcast_ref::<Refused>().is_some(), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
        let addrs = resolve(true).await.unwrap();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn a_call_to_a_name_of_a_refused_address_is_refused_before_connecting() {
        // A listener on loopback that would answer: the call must never reach it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let outbound = Outbound::new(Duration::from_secs(5), false).unwrap();
        assert!(outbound.post(&format!("https://localhost:{port}/")).is_err());
        assert!(outbound.post(&format!("https://127.0.0.1:{port}/")).is_err());
        // Past the URL check (as a public name that resolves to loopback would be): the
        // client's resolver refuses it.
        let err = outbound.http.post(format!("http://localhost:{port}/")).send().await.unwrap_err();
        assert!(is_refused(&err), "{err:?}");
        let allowed = Outbound::new(Duration::from_secs(1), true).unwrap();
        let err = allowed.http.post(format!("http://localhost:{port}/")).send().await.unwrap_err();
        assert!(!is_refused(&err), "loopback is allowed under the local setting: {err:?}");
    }
}
