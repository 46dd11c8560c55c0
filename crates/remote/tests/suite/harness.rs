//! Test harness: a loopback upstream (axum), a minimal SOCKS5 server that records what our client
//! sends, and a `danted` launcher.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::routing;
use sov_remote::{KeyPair, Timeouts, open_request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Short timeouts so a broken test fails fast instead of hanging.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(10),
        read: Some(Duration::from_secs(10)),
        total: Some(Duration::from_secs(30)),
    }
}

pub fn post(url: &str, body: &'static [u8]) -> http::Request<Bytes> {
    http::Request::post(url).header("content-type", "application/octet-stream").body(Bytes::from_static(body)).unwrap()
}

pub fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

// ---------------------------------------------------------------- upstream

#[derive(Clone)]
struct UpState {
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    key: Arc<KeyPair>,
}

/// A loopback HTTP server standing in for a provider. Records the peer address of every request.
pub struct Upstream {
    pub port: u16,
    pub key: Arc<KeyPair>,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Upstream {
    /// Serves on 127.0.0.1:<free port>, and on [::1] at the same port when IPv6 loopback exists
    /// (so `localhost` works whichever family the resolver prefers).
    pub async fn start() -> Self {
        let state = UpState { peers: Arc::default(), key: Arc::new(KeyPair::generate_with_id(3)) };
        let app = Router::new()
            .route("/echo", routing::post(echo))
            .route("/stream", routing::get(stream))
            .route("/sealed", routing::post(sealed))
            .with_state(state.clone());
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let mut listeners = vec![v4];
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            listeners.push(v6);
        }
        for listener in listeners {
            let app = app.clone();
            tokio::spawn(async move {
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
            });
        }
        Self { port, key: state.key, peers: state.peers }
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// Peer addresses of the requests served so far.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap().clone()
    }
}

async fn echo(State(s): State<UpState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Vec<u8> {
    s.peers.lock().unwrap().push(peer);
    [b"echo:".as_slice(), &body].concat()
}

async fn stream(State(s): State<UpState>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Body {
    s.peers.lock().unwrap().push(peer);
    Body::from_stream(futures_util::stream::unfold(0u8, |i| async move {
        if i == 3 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        Some((Ok::<_, std::io::Error>(format!("part{i};")), i + 1))
    }))
}

/// The provider: opens the sealed request, answers with a sealed stream of the upper-cased
/// body, one chunk per word.
async fn sealed(
    State(s): State<UpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Body, (http::StatusCode, String)> {
    s.peers.lock().unwrap().push(peer);
    let (request, mut sealer) =
        open_request(&s.key, &body).map_err(|e| (http::StatusCode::BAD_REQUEST, e.to_string()))?;
    let answer = String::from_utf8_lossy(&request).to_uppercase();
    let words: Vec<String> = answer.split(' ').map(|w| format!("{w} ")).collect();
    let mut frames = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let frame = sealer
            .seal_chunk(word.as_bytes(), i + 1 == words.len())
            .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        frames.push(Ok::<_, std::io::Error>(frame));
    }
    Ok(Body::from_stream(futures_util::stream::iter(frames)))
}

// ---------------------------------------------------------------- a SOCKS5 server of our own

/// What a client said in one SOCKS5 handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksHello {
    /// Authentication methods offered.
    pub methods: Vec<u8>,
    pub user: Option<String>,
    pub pass: Option<String>,
    /// Address type of the CONNECT request (1 IPv4, 3 domain name, 4 IPv6).
    pub atyp: u8,
    pub host: String,
    pub port: u16,
}

/// How the test SOCKS5 server answers CONNECT.
#[derive(Debug, Clone, Copy)]
pub enum SocksMode {
    /// Connect to the target on loopback and relay.
    Relay,
    /// Reply "connection refused" (as a proxy that cannot reach the provider does).
    Refuse,
}

/// A minimal SOCKS5 server on loopback that records every handshake, to test our client's wire
/// behaviour (which methods it offers, its credentials, remote DNS).
pub struct FakeSocks {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<SocksHello>>>,
}

impl FakeSocks {
    pub async fn start(mode: SocksMode) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<SocksHello>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                let record = record.clone();
                tokio::spawn(async move {
                    let _ = socks_session(conn, mode, &record).await;
                });
            }
        });
        Self { addr, seen }
    }

    pub fn seen(&self) -> Vec<SocksHello> {
        self.seen.lock().unwrap().clone()
    }
}

async fn socks_session(mut conn: TcpStream, mode: SocksMode, record: &Mutex<Vec<SocksHello>>) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    conn.read_exact(&mut head).await?;
    assert_eq!(head[0], 5, "not SOCKS5");
    let mut methods = vec![0u8; head[1] as usize];
    conn.read_exact(&mut methods).await?;
    let (mut user, mut pass) = (None, None);
    if methods.contains(&2) {
        conn.write_all(&[5, 2]).await?;
        let ver = conn.read_u8().await?;
        assert_eq!(ver, 1, "username/password subnegotiation version");
        let ulen = conn.read_u8().await?;
        let mut u = vec![0u8; ulen as usize];
        conn.read_exact(&mut u).await?;
        let plen = conn.read_u8().await?;
        let mut p = vec![0u8; plen as usize];
        conn.read_exact(&mut p).await?;
        user = Some(String::from_utf8(u).unwrap());
        pass = Some(String::from_utf8(p).unwrap());
        conn.write_all(&[1, 0]).await?;
    } else if methods.contains(&0) {
        conn.write_all(&[5, 0]).await?;
    } else {
        conn.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    let mut req = [0u8; 4];
    conn.read_exact(&mut req).await?;
    assert_eq!(req[..3], [5, 1, 0], "expected a CONNECT request");
    let atyp = req[3];
    let host = match atyp {
        1 => {
            let mut a = [0u8; 4];
            conn.read_exact(&mut a).await?;
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let len = conn.read_u8().await?;
            let mut name = vec![0u8; len as usize];
            conn.read_exact(&mut name).await?;
            String::from_utf8(name).unwrap()
        }
        4 => {
            let mut a = [0u8; 16];
            conn.read_exact(&mut a).await?;
            Ipv6Addr::from(a).to_string()
        }
        other => panic!("bad address type {other}"),
    };
    let port = conn.read_u16().await?;
    record.lock().unwrap().push(SocksHello { methods, user, pass, atyp, host: host.clone(), port });
    match mode {
        SocksMode::Refuse => {
            conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        }
        SocksMode::Relay => {
            // Only loopback targets: these tests never reach off the machine.
            let ip = if host == "localhost" { Ipv4Addr::LOCALHOST.into() } else { host.parse().unwrap() };
            let target = SocketAddr::new(ip, port);
            assert!(target.ip().is_loopback(), "test SOCKS server relays to loopback only");
            let mut upstream = TcpStream::connect(target).await?;
            conn.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
            tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- danted

pub use sov_remote::testing::Danted;

// ---------------------------------------------------------------- gateway, model upstream, relay

/// What the model upstream received in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The whole answer the model upstream gives to a non-streamed request.
pub const MODEL_ANSWER: &str = r#"{"choices":[{"message":{"role":"assistant","content":"ANSWER-SECRET-7731"}}]}"#;

/// The events the model upstream streams for a request whose body contains `"stream":true`.
pub const MODEL_EVENTS: [&str; 4] = [
    "data: {\"choices\":[{\"delta\":{\"content\":\"STREAM-SECRET-\"}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"one \"}}]}\n\n",
    "data: {\"choices\":[{\"delta\":{\"content\":\"two\"}}]}\n\n",
    "data: [DONE]\n\n",
];

#[derive(Clone)]
struct ModelState {
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<tokio::sync::Semaphore>,
}

/// A loopback stand-in for llama-server: records every request and answers
/// - `/v1/missing`: 404 with an OpenAI-style JSON error;
/// - a body containing `"stream":true`: [`MODEL_EVENTS`] as `text/event-stream`, taking one
///   permit of the gate before each event after the first (so a test can hold the stream), and
///   on `/v1/broken` breaking off after the first event;
/// - anything else: [`MODEL_ANSWER`] as JSON.
pub struct ModelUpstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl ModelUpstream {
    /// Starts with the event gate open.
    pub async fn start() -> Self {
        Self::start_gated(tokio::sync::Semaphore::MAX_PERMITS).await
    }

    /// Starts with `permits` events allowed past the first before the stream waits.
    pub async fn start_gated(permits: usize) -> Self {
        let state = ModelState { seen: Arc::default(), gate: Arc::new(tokio::sync::Semaphore::new(permits)) };
        let app = Router::new().fallback(model).with_state(state.clone());
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen: state.seen, gate: state.gate }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Lets `n` more events out.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

async fn model(State(s): State<ModelState>, request: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path_and_query = parts.uri.path_and_query().unwrap().to_string();
    let content_type = parts.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    s.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: path_and_query.clone(),
        content_type,
        body: body.to_vec(),
    });
    let path = parts.uri.path();
    if path == "/v1/missing" {
        return (
            http::StatusCode::NOT_FOUND,
            [("content-type", "application/json")],
            r#"{"error":{"message":"model not found"}}"#,
        )
            .into_response();
    }
    if String::from_utf8_lossy(&body).contains(r#""stream":true"#) {
        let broken = path == "/v1/broken";
        let gate = s.gate.clone();
        let events = futures_util::stream::unfold(0usize, move |i| {
            let gate = gate.clone();
            async move {
                if i == MODEL_EVENTS.len() {
                    return None;
                }
                if i > 0 {
                    if broken {
                        // Late enough that the first event is on the wire.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Some((Err(std::io::Error::other("model crashed")), MODEL_EVENTS.len()));
                    }
                    gate.acquire().await.unwrap().forget();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some((Ok(MODEL_EVENTS[i]), i + 1))
            }
        });
        return ([("content-type", "text/event-stream")], Body::from_stream(events)).into_response();
    }
    ([("content-type", "application/json")], MODEL_ANSWER).into_response()
}

/// Serves `router` on 127.0.0.1:<free port>.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A loopback TCP relay in front of `target` that records every byte in each direction: what
/// actually went over the wire between a client and a server.
pub struct Relay {
    pub addr: SocketAddr,
    to_server: Arc<Mutex<Vec<u8>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let to_server: Arc<Mutex<Vec<u8>>> = Arc::default();
        let to_client: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (up, down) = (to_server.clone(), to_client.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect(target).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, up.clone()));
                tokio::spawn(pipe(server_read, client_write, down.clone()));
            }
        });
        Self { addr, to_server, to_client }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the client sent, all connections concatenated.
    pub fn to_server(&self) -> Vec<u8> {
        self.to_server.lock().unwrap().clone()
    }

    /// Everything the server sent back.
    pub fn to_client(&self) -> Vec<u8> {
        self.to_client.lock().unwrap().clone()
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    record: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                record.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}
