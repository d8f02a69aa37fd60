//! A small rustls TLS peer used by `samples/make-samples.sh` to capture a second TLS stack next to
//! OpenSSL. rustls coalesces the client's encrypted flight (Certificate, CertificateVerify and
//! Finished) into one record, where OpenSSL sends one record per message.
//!
//! ```text
//! tls_peer server --port P --cert C --key K [--client-ca CA] [--require-client-cert]
//!                 [--alpn a,b] [--tls12] [--naccept N] [--tickets]
//! tls_peer client --port P --ca CA [--cert C --key K] [--sni NAME] [--alpn a,b] [--tls12]
//!                 [--keylog FILE] [--line TEXT] [--connections N]
//! ```
//!
//! The server listens on 127.0.0.1, answers the first line of each connection with the line
//! reversed, sends `close_notify` and closes; it stops after `--naccept` connections (default 1).
//! The client sends one line, prints the answer and closes with `close_notify`. Both are plain
//! blocking `std::net` programs with socket timeouts: nothing waits forever.
//!
//! Session resumption: `--connections N` makes the client connect N times, one after the other,
//! with one `ClientConfig`, whose in-memory session cache then resumes the session of the previous
//! connection (TLS 1.3: PSK from a NewSessionTicket; TLS 1.2: session ticket if the server issued
//! one, else session ID). The server keeps its sessions in rustls' stateful in-memory cache
//! (TLS 1.3 tickets are then cache keys, TLS 1.2 resumes by session ID) unless `--tickets` makes
//! it issue stateless tickets (rustls `Ticketer`: the encrypted session state). Both sides print
//! the handshake kind (`Full` or `Resumed`) of every connection on stderr.
//!
//! The client checks that the server chain leads to `--ca`; a certificate without a DNS name
//! matching `--sni` is accepted (Istio peers check the SPIFFE URI SAN, not the SNI).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, KeyLog, RootCertStore,
    ServerConfig, ServerConnection, SignatureScheme, StreamOwned, SupportedProtocolVersion,
};

type Error = Box<dyn std::error::Error>;

/// Socket read/write timeout: a peer that stops talking ends the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line read from the peer.
const MAX_LINE: u64 = 4096;

#[derive(Parser)]
#[command(about = "rustls TLS peer for sample captures")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Accept connections on 127.0.0.1:PORT and answer one line on each.
    Server(ServerArgs),
    /// Connect to 127.0.0.1:PORT, send one line, print the answer.
    Client(ClientArgs),
}

#[derive(Args)]
struct Common {
    #[arg(long)]
    port: u16,
    /// Certificate chain (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Private key of the certificate (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// ALPN protocols, comma-separated (offered by the client, accepted by the server).
    #[arg(long, value_delimiter = ',')]
    alpn: Vec<String>,
    /// TLS 1.2 only (default: TLS 1.3 only).
    #[arg(long)]
    tls12: bool,
}

#[derive(Args)]
struct ServerArgs {
    #[command(flatten)]
    common: Common,
    /// Request a client certificate issued by this CA.
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (default: request only).
    #[arg(long, requires = "client_ca")]
    require_client_cert: bool,
    /// Connections to serve before exiting.
    #[arg(long, default_value_t = 1)]
    naccept: u32,
    /// Issue stateless session tickets (rustls `Ticketer`) instead of relying on the stateful
    /// session cache.
    #[arg(long)]
    tickets: bool,
}

#[derive(Args)]
struct ClientArgs {
    #[command(flatten)]
    common: Common,
    /// CA the server chain must lead to.
    #[arg(long)]
    ca: PathBuf,
    /// Server name sent in the SNI extension.
    #[arg(long, default_value = "localhost")]
    sni: String,
    /// Append the NSS key log lines of the connection to this file.
    #[arg(long)]
    keylog: Option<PathBuf>,
    /// The line sent to the server.
    #[arg(long, default_value = "GET /details/0 from productpage")]
    line: String,
    /// Connections made one after the other with the same configuration (and session cache):
    /// the second and later ones resume the session of the one before.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Server(args) => server(&args),
        Mode::Client(args) => client(&args),
    };
    if let Err(e) = result {
        eprintln!("tls_peer: {e}");
        std::process::exit(1);
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

static TLS12_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn versions(tls12: bool) -> &'static [&'static SupportedProtocolVersion] {
    if tls12 {
        &TLS12_ONLY
    } else {
        &TLS13_ONLY
    }
}

fn load_chain(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, Error> {
    let chain = CertificateDer::pem_file_iter(path)?.collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", path.display()).into());
    }
    Ok(chain)
}

fn load_identity(
    common: &Common,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    match (&common.cert, &common.key) {
        (Some(cert), Some(key)) => Ok(Some((
            load_chain(cert)?,
            PrivateKeyDer::from_pem_file(key)?,
        ))),
        (None, None) => Ok(None),
        _ => Err("--cert and --key go together".into()),
    }
}

fn roots(path: &PathBuf) -> Result<Arc<RootCertStore>, Error> {
    let mut store = RootCertStore::empty();
    for cert in load_chain(path)? {
        store.add(cert)?;
    }
    Ok(Arc::new(store))
}

fn alpn(list: &[String]) -> Vec<Vec<u8>> {
    list.iter().map(|p| p.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------- server

fn server(args: &ServerArgs) -> Result<(), Error> {
    let (chain, key) = load_identity(&args.common)?.ok_or("the server needs --cert and --key")?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(args.common.tls12))?;
    let builder = match &args.client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider());
            let verifier = if args.require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = alpn(&args.common.alpn);
    if args.tickets {
        config.ticketer = ring::Ticketer::new()?;
    }
    let config = Arc::new(config);
    let listener = TcpListener::bind(("127.0.0.1", args.common.port))?;
    for _ in 0..args.naccept {
        let (tcp, peer) = listener.accept()?;
        if let Err(e) = serve(Arc::clone(&config), tcp) {
            eprintln!("tls_peer server: connection from {peer}: {e}");
        }
    }
    Ok(())
}

fn serve(config: Arc<ServerConfig>, tcp: TcpStream) -> Result<(), Error> {
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut tls = StreamOwned::new(ServerConnection::new(config)?, tcp);
    let mut line = String::new();
    BufReader::new((&mut tls).take(MAX_LINE)).read_line(&mut line)?;
    describe("server", &tls.conn);
    let answer: String = line.trim_end().chars().rev().collect();
    tls.write_all(format!("{answer}\n").as_bytes())?;
    tls.conn.send_close_notify();
    tls.flush()?;
    // Half-close, then wait for the client's close_notify and FIN: both sides close with FIN.
    tls.sock.shutdown(Shutdown::Write)?;
    drain(&mut tls.sock);
    Ok(())
}

fn describe<T>(who: &str, conn: &rustls::ConnectionCommon<T>) {
    eprintln!(
        "tls_peer {who}: {:?} {:?} {:?} alpn={:?} peer_certificates={}",
        conn.handshake_kind(),
        conn.protocol_version(),
        conn.negotiated_cipher_suite().map(|s| s.suite()),
        conn.alpn_protocol().map(String::from_utf8_lossy),
        conn.peer_certificates().map_or(0, <[_]>::len),
    );
}

/// Reads and drops the peer's remaining bytes until it closes (bounded by the read timeout).
fn drain(sock: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
}

// ---------------------------------------------------------------- client

fn client(args: &ClientArgs) -> Result<(), Error> {
    let inner =
        WebPkiServerVerifier::builder_with_provider(roots(&args.ca)?, provider()).build()?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(args.common.tls12))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)));
    let mut config = match load_identity(&args.common)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn(&args.common.alpn);
    if let Some(path) = &args.keylog {
        config.key_log = Arc::new(NssKeyLog::create(path)?);
    }
    let config = Arc::new(config);
    let name = ServerName::try_from(args.sni.clone())?;
    for _ in 0..args.connections {
        connect(args, Arc::clone(&config), name.clone())?;
    }
    Ok(())
}

/// One connection: sends the line, prints the answer, closes with `close_notify` and FIN.
fn connect(
    args: &ClientArgs,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> Result<(), Error> {
    let tcp = TcpStream::connect(("127.0.0.1", args.common.port))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut tls = StreamOwned::new(ClientConnection::new(config, name)?, tcp);
    tls.write_all(format!("{}\n", args.line).as_bytes())?;
    tls.flush()?;
    let mut answer = String::new();
    (&mut tls).take(MAX_LINE).read_to_string(&mut answer)?;
    describe("client", &tls.conn);
    print!("{answer}");
    tls.conn.send_close_notify();
    tls.flush()?;
    tls.sock.shutdown(Shutdown::Write)?;
    drain(&mut tls.sock);
    Ok(())
}

/// Checks the server chain against the CA and its signatures; a name mismatch is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Writes the connection secrets as NSS key log lines (`LABEL client_random secret`, hex).
#[derive(Debug)]
struct NssKeyLog(Mutex<File>);

impl NssKeyLog {
    fn create(path: &PathBuf) -> Result<Self, Error> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self(Mutex::new(file)))
    }
}

impl KeyLog for NssKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        if let Ok(mut file) = self.0.lock() {
            if let Err(e) = file.write_all(line.as_bytes()) {
                eprintln!("tls_peer: key log: {e}");
            }
        }
    }
}
