//! Messaging accounts. Their settings live in the database; an email account's password lives in
//! a file of its own under `<data dir>/secrets/` (directory 0700, file 0600), read only when a
//! connection is made. Nothing here ever formats a password into a log, an error or the API.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::address::{OwnAccounts, parse_email, parse_phone};
use crate::store::MessageStore;
use crate::{Backend, MsgError};

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain text upgraded with STARTTLS before login (IMAP 143, submission 587).
    Starttls,
    /// No encryption: only for a server on this machine (localhost, 127.0.0.1, ::1).
    Plain,
}

impl std::str::FromStr for Tls {
    type Err = String;

    fn from_str(s: &str) -> Result<Tls, String> {
        match s {
            "tls" => Ok(Tls::Tls),
            "starttls" => Ok(Tls::Starttls),
            "plain" => Ok(Tls::Plain),
            _ => Err(format!("{s:?}: use tls, starttls or plain")),
        }
    }
}

impl fmt::Display for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tls::Tls => "tls",
            Tls::Starttls => "starttls",
            Tls::Plain => "plain",
        })
    }
}

/// An email account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailAccount {
    /// The address, lower case.
    pub address: String,
    /// IMAP server.
    pub imap_host: String,
    /// IMAP port.
    pub imap_port: u16,
    /// How IMAP is secured.
    pub imap_tls: Tls,
    /// SMTP submission server.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// How SMTP is secured.
    pub smtp_tls: Tls,
    /// Login name for both servers.
    pub user: String,
    /// Folders polled.
    pub folders: Vec<String>,
    /// A PEM file of extra certificate authorities to trust (a self-hosted server's own CA);
    /// the system's authorities are always trusted.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl EmailAccount {
    /// Checks the settings and normalises the address.
    pub fn validate(&mut self) -> Result<(), MsgError> {
        self.address = parse_email("address", &self.address)?;
        for (field, host, tls) in
            [("imap_host", &self.imap_host, self.imap_tls), ("smtp_host", &self.smtp_host, self.smtp_tls)]
        {
            if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/') {
                return Err(MsgError::invalid(field, format!("{host:?} is not a host name")));
            }
            if tls == Tls::Plain && !is_local_mail_server(host) {
                return Err(MsgError::invalid(
                    field,
                    format!(
                        "plain text to {host} would send your password unencrypted; use --imap-tls/--smtp-tls tls or starttls (plain is only for a server on this machine)"
                    ),
                ));
            }
        }
        if self.folders.is_empty() {
            self.folders.push("INBOX".into());
        }
        if let Some(f) = self.folders.iter().find(|f| f.is_empty() || f.contains(|c: char| c.is_control() || c == '"'))
        {
            return Err(MsgError::invalid("folders", format!("{f:?} is not a folder name")));
        }
        if self.user.is_empty() {
            self.user = self.address.clone();
        }
        Ok(())
    }
}

/// A Signal account registered or linked in signal-cli.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalAccount {
    /// The account's number, E.164.
    pub number: String,
    /// Where its signal-cli JSON-RPC daemon listens (`HOST:PORT`).
    pub rpc: String,
}

impl SignalAccount {
    /// Checks the settings and normalises the number.
    pub fn validate(&mut self) -> Result<(), MsgError> {
        self.number = parse_phone("number", &self.number)?;
        if self.rpc.parse::<std::net::SocketAddr>().is_err() {
            return Err(MsgError::invalid(
                "rpc",
                format!("{:?} is not an address and port like 127.0.0.1:7583", self.rpc),
            ));
        }
        Ok(())
    }
}

/// Whether the mail server `host` (a name or an IP address, no port) is on this machine:
/// `localhost` or a loopback address (`127.0.0.0/8`, `[::1]`), so that plain text to it never
/// leaves the machine. Not the HTTP `Host` check (`sov_core::http::is_loopback_host`), which takes
/// a port and fewer spellings.
pub fn is_local_mail_server(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// All configured accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Email accounts, by address.
    pub email: Vec<EmailAccount>,
    /// Signal accounts, by number.
    pub signal: Vec<SignalAccount>,
}

impl Accounts {
    /// The accounts recorded in `store`.
    pub fn load(store: &MessageStore) -> Result<Accounts, MsgError> {
        let mut accounts = Accounts::default();
        let mut stmt =
            store.store().conn().prepare("SELECT backend, settings FROM msg_accounts ORDER BY backend, address")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (backend, settings) = row?;
            let bad = |e: serde_json::Error| MsgError::Database(format!("account settings: {e}"));
            match Backend::parse(&backend) {
                Some(Backend::Email) => accounts.email.push(serde_json::from_str(&settings).map_err(bad)?),
                Some(Backend::Signal) => accounts.signal.push(serde_json::from_str(&settings).map_err(bad)?),
                None => tracing::warn!("ignoring an account of unknown backend {backend:?}"),
            }
        }
        Ok(accounts)
    }

    /// The user's own addresses and numbers.
    pub fn own(&self) -> OwnAccounts {
        let mut own = OwnAccounts::default();
        for a in &self.email {
            own.add_email(&a.address);
        }
        for a in &self.signal {
            own.add_phone(&a.number);
        }
        own
    }

    /// The email account `address` (any case).
    pub fn email(&self, address: &str) -> Option<&EmailAccount> {
        self.email.iter().find(|a| a.address.eq_ignore_ascii_case(address.trim()))
    }

    /// The Signal account `number` (any formatting).
    pub fn signal(&self, number: &str) -> Option<&SignalAccount> {
        let number = parse_phone("from", number).ok()?;
        self.signal.iter().find(|a| a.number == number)
    }

    /// Addresses per backend, for `/accounts`.
    pub fn addresses(&self) -> serde_json::Value {
        serde_json::json!({
            "email": self.email.iter().map(|a| a.address.clone()).collect::<Vec<_>>(),
            "signal": self.signal.iter().map(|a| a.number.clone()).collect::<Vec<_>>(),
        })
    }
}

/// Where account passwords live.
#[derive(Debug, Clone)]
pub struct Secrets {
    dir: PathBuf,
}

impl Secrets {
    /// Passwords under `<data_dir>/secrets`.
    pub fn new(data_dir: &Path) -> Secrets {
        Secrets { dir: data_dir.join("secrets") }
    }

    fn file(&self, address: &str) -> PathBuf {
        self.dir.join(format!("email-{address}"))
    }

    /// The password of email account `address`.
    pub fn password(&self, address: &str) -> Result<String, MsgError> {
        let path = self.file(address);
        let text = std::fs::read_to_string(&path).map_err(|source| MsgError::File { path, source })?;
        Ok(text.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn write(&self, address: &str, password: &str) -> Result<(), MsgError> {
        sov_core::paths::ensure_private_dir(&self.dir)?;
        let path = self.file(address);
        let partial = self.dir.join(format!(".email-{address}.new"));
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| MsgError::File { path, source }
        };
        let _ = std::fs::remove_file(&partial);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io(&partial))?;
        file.write_all(password.as_bytes()).and_then(|()| file.sync_all()).map_err(io(&partial))?;
        std::fs::rename(&partial, &path).map_err(io(&path))
    }

    fn remove(&self, address: &str) {
        let _ = std::fs::remove_file(self.file(address));
    }
}

/// Adds (or replaces) email account `account`, its password in its own 0600 file.
pub fn add_email(
    store: &MessageStore,
    secrets: &Secrets,
    mut account: EmailAccount,
    password: &str,
) -> Result<EmailAccount, MsgError> {
    account.validate()?;
    if password.is_empty() {
        return Err(MsgError::invalid("password", "is empty"));
    }
    secrets.write(&account.address, password)?;
    save(store, Backend::Email, &account.address, &serde_json::to_string(&account).unwrap_or_default())?;
    Ok(account)
}

/// Adds (or replaces) Signal account `account`.
pub fn add_signal(store: &MessageStore, mut account: SignalAccount) -> Result<SignalAccount, MsgError> {
    account.validate()?;
    save(store, Backend::Signal, &account.number, &serde_json::to_string(&account).unwrap_or_default())?;
    Ok(account)
}

fn save(store: &MessageStore, backend: Backend, address: &str, settings: &str) -> Result<(), MsgError> {
    store.store().conn().execute(
        "INSERT INTO msg_accounts (backend, address, settings, added_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (backend, address) DO UPDATE SET settings = ?3",
        params![backend.as_str(), address, settings, sov_core::now_ms()],
    )?;
    Ok(())
}

/// Removes an account (and an email account's password file). Its stored messages stay.
pub fn remove(store: &MessageStore, secrets: &Secrets, backend: Backend, address: &str) -> Result<(), MsgError> {
    let address = match backend {
        Backend::Email => parse_email("address", address)?,
        Backend::Signal => parse_phone("number", address)?,
    };
    let removed = store
        .store()
        .conn()
        .execute("DELETE FROM msg_accounts WHERE backend = ?1 AND address = ?2", params![backend.as_str(), address])?;
    if removed == 0 {
        return Err(MsgError::NoAccount { backend, address });
    }
    if backend == Backend::Email {
        secrets.remove(&address);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sov_core::store::Store;
    use std::os::unix::fs::PermissionsExt;

    fn account(host: &str, tls: Tls) -> EmailAccount {
        EmailAccount {
            address: "Alice@Example.org".into(),
            imap_host: host.into(),
            imap_port: 993,
            imap_tls: tls,
            smtp_host: host.into(),
            smtp_port: 465,
            smtp_tls: tls,
            user: String::new(),
            folders: vec![],
            ca_file: None,
        }
    }

    #[test]
    fn passwords_live_in_private_files_and_nowhere_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::new(Store::open_in_memory().unwrap());
        let secrets = Secrets::new(dir.path());
        let added = add_email(&store, &secrets, account("mail.example.org", Tls::Tls), "hunter2-secret").unwrap();
        assert_eq!(added.address, "alice@example.org");
        assert_eq!(added.user, "alice@example.org");
        assert_eq!(added.folders, vec!["INBOX".to_owned()]);
        assert_eq!(secrets.password("alice@example.org").unwrap(), "hunter2-secret");
        let file = dir.path().join("secrets/email-alice@example.org");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("secrets")).unwrap().permissions().mode() & 0o777, 0o700);
        let settings: String =
            store.store().conn().query_row("SELECT settings FROM msg_accounts", [], |r| r.get(0)).unwrap();
        assert!(!settings.contains("hunter2"), "{settings}");
        let accounts = Accounts::load(&store).unwrap();
        assert!(!format!("{accounts:?} {}", accounts.addresses()).contains("hunter2"));
        assert!(accounts.own().is_own(&crate::Recipient::Email("alice+x@example.org".into())));

        remove(&store, &secrets, Backend::Email, "ALICE@example.org").unwrap();
        assert!(!file.exists());
        assert!(Accounts::load(&store).unwrap().email.is_empty());
        assert!(matches!(
            remove(&store, &secrets, Backend::Email, "alice@example.org"),
            Err(MsgError::NoAccount { .. })
        ));
    }

    #[test]
    fn plain_text_is_refused_for_servers_off_this_machine() {
        let err = account("mail.example.org", Tls::Plain).validate().unwrap_err().to_string();
        assert!(err.contains("unencrypted"), "{err}");
        account("127.0.0.1", Tls::Plain).validate().unwrap();
        account("localhost", Tls::Plain).validate().unwrap();
        account("::1", Tls::Plain).validate().unwrap();
    }
}
