//! A SOCKS5 client handshake (RFC 1928, username/password from RFC 1929): CONNECT to a host
//! name the proxy resolves, so nothing is looked up on this machine.
//!
//! Both "no authentication" and "username/password" are offered, the latter with fresh random
//! credentials for every connection: Tor (`IsolateSOCKSAuth`, on by default) picks it and gives
//! each connection its own circuit; a proxy that isolates by other means, or not at all (a Nym
//! client, Dante), may pick "no authentication" — which proxy picked what is logged.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::Error;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// Whether the proxy took the fresh credentials (and so, for Tor, a fresh circuit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolated {
    /// The proxy chose username/password with this connection's fresh credentials.
    ByCredentials,
    /// The proxy chose "no authentication": it may put this connection on a shared circuit.
    No,
}

/// Connects through the SOCKS5 proxy at `proxy` to `host:port`.
pub(crate) async fn connect(proxy: SocketAddr, host: &str, port: u16) -> Result<(TcpStream, Isolated), Error> {
    let target = format!("{host}:{port}");
    let mut stream =
        TcpStream::connect(proxy).await.map_err(|e| Error::ProxyUnreachable { proxy, reason: e.to_string() })?;
    let refused = |reason: String| Error::Proxy { proxy, host: target.clone(), reason };
    let io = |e: std::io::Error| Error::Proxy { proxy, host: target.clone(), reason: e.to_string() };

    stream.write_all(&[VERSION, 2, NO_AUTH, USER_PASS]).await.map_err(io)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(io)?;
    if choice[0] != VERSION {
        return Err(refused(format!("it does not speak SOCKS5 (version byte {})", choice[0])));
    }
    let isolated = match choice[1] {
        USER_PASS => {
            let mut creds = [0u8; 32];
            crate::random(&mut creds)?;
            let (user, pass) = creds.split_at(16);
            let (user, pass) = (hex::encode(user), hex::encode(pass));
            let mut auth = vec![1u8, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(pass.len() as u8);
            auth.extend_from_slice(pass.as_bytes());
            stream.write_all(&auth).await.map_err(io)?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0 {
                return Err(refused("it refused the fresh username and password".into()));
            }
            Isolated::ByCredentials
        }
        NO_AUTH => Isolated::No,
        NO_ACCEPTABLE => return Err(refused("it accepts neither no authentication nor username/password".into())),
        other => return Err(refused(format!("it chose authentication method {other}, which was not offered"))),
    };

    let name = host.as_bytes();
    let name_len = u8::try_from(name.len()).map_err(|_| refused("the host name is longer than 255 bytes".into()))?;
    let mut request = vec![VERSION, 1 /* CONNECT */, 0, 3 /* DOMAINNAME */, name_len];
    request.extend_from_slice(name);
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(io)?;

    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io)?;
    if head[1] != 0 {
        return Err(refused(reply_text(head[1]).into()));
    }
    let bound = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0])
        }
        other => return Err(refused(format!("its reply has address type {other}"))),
    };
    let mut rest = vec![0u8; bound + 2];
    stream.read_exact(&mut rest).await.map_err(io)?;
    Ok((stream, isolated))
}

/// RFC 1928's reply codes.
fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable (or Tor could not build a circuit to it)",
        5 => "connection refused by the destination",
        6 => "TTL expired (or the onion service is not reachable)",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "an unknown error",
    }
}
