//! Granted loopback ports, relayed across the network-namespace wall through Unix sockets.
//!
//! Outside, `sbox` binds one Unix socket per granted port in a private (0700) directory and
//! forwards each connection to `127.0.0.1:PORT` (or `[::1]:PORT`) on the host. That directory is
//! bound read-only into the sandbox; inside, the init listens on `127.0.0.1:PORT` and `[::1]:PORT`
//! of the sandbox's own loopback and forwards each connection to the socket. Nothing else crosses:
//! the sandbox has no other interface, no route, and only these sockets lead out.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread;

use crate::{Error, Result};

/// The relay socket for `port` inside `dir`.
pub fn socket_path(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("{port}.sock"))
}

/// Host side: binds one socket per port in `dir` and serves them on background threads for as
/// long as the process lives.
pub fn serve_host(dir: &Path, ports: &[u16]) -> Result<()> {
    for &port in ports {
        let path = socket_path(dir, port);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| Error::Relay { port, source })?;
        thread::Builder::new()
            .name(format!("relay-host-{port}"))
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = thread::Builder::new().spawn(move || {
                        let upstream = TcpStream::connect(("127.0.0.1", port))
                            .or_else(|_| TcpStream::connect(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))));
                        match upstream {
                            Ok(upstream) => splice(conn, upstream),
                            Err(e) => tracing::debug!(port, error = %e, "granted port has no listener on the host"),
                        }
                    });
                }
            })
            .map_err(|source| Error::Relay { port, source })?;
    }
    Ok(())
}

/// Sandbox side: listens on the sandbox's loopback for each port and forwards to the sockets in
/// `dir`. Listeners are bound before this returns, so the command never races them.
pub fn serve_sandbox(dir: &Path, ports: &[u16]) -> Result<()> {
    for &port in ports {
        let socket = socket_path(dir, port);
        let v4 = TcpListener::bind(("127.0.0.1", port)).map_err(|source| Error::Relay { port, source })?;
        let v6 = TcpListener::bind(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))).ok();
        for listener in std::iter::once(v4).chain(v6) {
            let socket = socket.clone();
            thread::Builder::new()
                .name(format!("relay-sbox-{port}"))
                .spawn(move || {
                    for conn in listener.incoming().flatten() {
                        let socket = socket.clone();
                        let _ = thread::Builder::new().spawn(move || match UnixStream::connect(&socket) {
                            Ok(upstream) => splice(conn, upstream),
                            Err(e) => tracing::debug!(port, error = %e, "relay socket unavailable"),
                        });
                    }
                })
                .map_err(|source| Error::Relay { port, source })?;
        }
    }
    Ok(())
}

/// A stream that can be split into independent read and write halves and half-closed.
trait Duplex: Read + Write + Send + Sized + 'static {
    fn split(&self) -> io::Result<Self>;
    fn close_write(&self);
}

impl Duplex for TcpStream {
    fn split(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Duplex for UnixStream {
    fn split(&self) -> io::Result<Self> {
        self.try_clone()
    }
    fn close_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

/// Copies both directions until each side has finished, passing half-closes through.
fn splice<A: Duplex, B: Duplex>(a: A, b: B) {
    let (Ok(mut a_read), Ok(mut b_read)) = (a.split(), b.split()) else { return };
    let (mut a_write, mut b_write) = (a, b);
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut a_read, &mut b_write);
        b_write.close_write();
    });
    let _ = io::copy(&mut b_read, &mut a_write);
    a_write.close_write();
    let _ = forward.join();
}
