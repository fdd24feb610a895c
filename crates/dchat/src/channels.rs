//! Transports to services in other processes, by address (or by the addresses of their
//! replicas).

use std::time::Duration;

use dchat_proto::{InternalToken, Transport};
use tonic::transport::Endpoint;

/// The transport to the service at `addrs`: one address, or a comma-separated list of its
/// replicas, over which calls are spread (`Transport::balanced`: dead replicas skipped
/// within a second, safe calls sent again to another). Every call carries `token`, when
/// the deployment has one.
pub(crate) fn remote(addrs: &str, token: Option<&InternalToken>) -> anyhow::Result<Transport> {
    let addrs: Vec<&str> = addrs.split(',').map(str::trim).filter(|addr| !addr.is_empty()).collect();
    match addrs.as_slice() {
        [] => anyhow::bail!("no service address given"),
        [addr] => channel(addr, token),
        _ => {
            let replicas = addrs
                .iter()
                .map(|addr| Ok(((*addr).to_owned(), channel(addr, token)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Transport::balanced(replicas))
        }
    }
}

/// An HTTP/2 channel to `addr` (`host:port` or a full `http://` URL) that connects on first
/// use and reconnects on its own, so a role can start before the services it depends on:
/// calls fail with UNAVAILABLE until the dependency answers, and the next call tries again.
fn channel(addr: &str, token: Option<&InternalToken>) -> anyhow::Result<Transport> {
    let url = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|err| anyhow::anyhow!("invalid service address {url:?}: {err}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10));
    Ok(Transport::remote(endpoint.connect_lazy()).with_internal_token(token))
}
